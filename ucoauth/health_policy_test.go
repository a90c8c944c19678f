package ucoauth

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The health policy, transition by transition: every event kind, and every
// branch within one, from a given state at a given time to the state after.
// The jitter draws 0, so that each backoff is exactly half its step.

var testPolicy = policyConfig{minBackoff: time.Second, maxBackoff: time.Minute, jitter: func(int64) int64 { return 0 }}

const (
	t0  = int64(1_700_000_000) * int64(time.Second)
	sec = int64(time.Second)
)

func TestHealthPolicyTransitions(t *testing.T) {
	temp := fmt.Errorf("store down: %w", errTestTemporary)
	reauth := &Error{Op: opToken, Code: "invalid_grant", Err: ErrReauthorizationRequired}
	slow := &Error{Op: opToken, StatusCode: 429, RetryAfter: 30 * time.Second}
	huge := &Error{Op: opToken, StatusCode: 429, RetryAfter: 10 * MaxLifetime}
	storeErr := &StoreError{Op: "load", Key: "k", Err: errTestTemporary}
	paced := &apiRefusedError{key: "k", n: 2, until: t0 + 7*sec}
	dead := deadGrant{rt: "RT-dead", err: reauth}
	failing := policy{fail: failures{err: temp, count: 2, nextTry: t0 + sec, failedAt: t0 - sec}}
	many := make([]string, maxRefusedRequests)
	for i := range many {
		many[i] = fmt.Sprintf("GET /r/%d", i)
	}

	for _, tc := range []struct {
		name string
		from policy
		ev   event
		now  int64
		want policy
	}{
		{"a load clears the failures and the dead grant", policy{fail: failing.fail, dead: dead, notFound: true},
			event{kind: evLoaded}, t0, policy{}},
		{"a load that found nothing says so", policy{}, event{kind: evLoaded, missing: true}, t0, policy{notFound: true}},
		{"a refresh records when", policy{refreshed: t0 - sec}, event{kind: evLoaded, refreshed: true}, t0, policy{refreshed: t0}},
		{"the first failure waits half the minimum backoff", policy{}, failed(temp), t0,
			policy{fail: failures{err: temp, count: 1, failedAt: t0, nextTry: t0 + sec/2}}},
		{"each failure doubles the step", failing, failed(temp), t0,
			policy{fail: failures{err: temp, count: 3, failedAt: t0, nextTry: t0 + 2*sec}}},
		{"the step saturates at the maximum", policy{fail: failures{err: temp, count: 70}}, failed(temp), t0,
			policy{fail: failures{err: temp, count: 71, failedAt: t0, nextTry: t0 + 30*sec}}},
		{"a longer Retry-After is honoured", policy{}, failed(slow), t0,
			policy{fail: failures{err: slow, count: 1, failedAt: t0, nextTry: t0 + 30*sec}}},
		{"a Retry-After is bounded by MaxLifetime", policy{}, failed(huge), t0,
			policy{fail: failures{err: huge, count: 1, failedAt: t0, nextTry: t0 + int64(MaxLifetime)}}},
		{"a dead grant waits the maximum and looks at the store now", policy{}, failed(reauth), t0,
			policy{fail: failures{err: reauth, count: 1, failedAt: t0, nextTry: t0 + 30*sec, lastLook: t0}}},
		{"a request the pace holds back waits for the pace", policy{}, failed(paced), t0,
			policy{fail: failures{err: paced, count: 1, failedAt: t0, nextTry: t0 + 7*sec}}},
		{"a store failure while the grant is dead keeps the grant dead", policy{dead: dead, fail: failures{err: reauth, count: 1, nextTry: t0 + 30*sec, failedAt: t0 - sec}},
			failed(storeErr), t0,
			policy{dead: dead, fail: failures{err: reauth, count: 1, nextTry: t0 + 30*sec, failedAt: t0 - sec, lastLook: t0}}},
		{"a tombstone drops everything held of the grant and backs off", policy{fail: failing.fail, notFound: true, rejected: "AT", dead: dead},
			event{kind: evRevoked, err: ErrRevoked}, t0,
			policy{fail: failures{err: ErrRevoked, count: 3, failedAt: t0, nextTry: t0 + 30*sec, lastLook: t0}}},
		{"a refused refresh token is remembered", policy{}, event{kind: evDead, tok: "RT-dead", err: reauth}, t0, policy{dead: dead}},
		{"the first forced request starts a streak", policy{}, event{kind: evForced}, t0,
			policy{pace: pace{n: 1, at: t0, ok: t0 + sec/2}}},
		{"a forced request within the streak steps it up", policy{pace: pace{n: 2, at: t0 - 2*sec, ok: t0 - sec}}, event{kind: evForced}, t0,
			policy{pace: pace{n: 3, at: t0, ok: t0 + 2*sec}}},
		{"a forced request after the streak ended starts again", policy{pace: pace{n: 5, at: t0 - 2*int64(rejectStreak), ok: t0 - int64(rejectStreak) - sec}},
			event{kind: evForced}, t0, policy{pace: pace{n: 1, at: t0, ok: t0 + sec/2}}},
		{"a refused token is never served again", policy{}, event{kind: evRejected, tok: "AT"}, t0, policy{rejected: "AT"}},
		{"a refused token held back goes back into service", policy{rejected: "AT"}, event{kind: evBackInService, tok: "AT"}, t0, policy{}},
		{"another token's return changes nothing", policy{rejected: "AT2"}, event{kind: evBackInService, tok: "AT"}, t0, policy{rejected: "AT2"}},
		{"the first request refused with a token held in service", policy{refused: &refusals{tok: "old", on: []string{"GET /a"}}},
			event{kind: evRefusedOn, tok: "AT", on: "GET /b"}, t0, policy{refused: &refusals{tok: "AT", on: []string{"GET /b"}}}},
		{"another request refused with it", policy{refused: &refusals{tok: "AT", on: []string{"GET /a"}}},
			event{kind: evRefusedOn, tok: "AT", on: "GET /b"}, t0, policy{refused: &refusals{tok: "AT", on: []string{"GET /a", "GET /b"}}}},
		{"the same request again changes nothing", policy{refused: &refusals{tok: "AT", on: []string{"GET /a"}}},
			event{kind: evRefusedOn, tok: "AT", on: "GET /a"}, t0, policy{refused: &refusals{tok: "AT", on: []string{"GET /a"}}}},
		{"the refused requests are bounded, the oldest dropped", policy{refused: &refusals{tok: "AT", on: many}},
			event{kind: evRefusedOn, tok: "AT", on: "GET /new"}, t0, policy{refused: &refusals{tok: "AT", on: append(many[1:len(many):len(many)], "GET /new")}}},
		{"a lost lock is recorded", policy{}, event{kind: evLockLost, err: ErrLockLost}, t0, policy{lockLost: ErrLockLost}},
		{"the retry's end ends it", policy{lockLost: ErrLockLost}, event{kind: evRetryEnded}, t0, policy{}},
		{"closing", policy{refreshed: t0}, event{kind: evClosed}, t0, policy{refreshed: t0, closed: true}},
		{"a revoke through the source starts over, closed or not", policy{fail: failing.fail, closed: true, rejected: "AT", pace: pace{n: 1}},
			event{kind: evBuried}, t0, policy{closed: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := tc.from
			got := step(tc.from, tc.ev, tc.now, testPolicy)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, from, tc.from, "the state stepped from is not modified")
		})
	}
}

func TestHealthPolicyRefusalsAreNeverModifiedInPlace(t *testing.T) {
	on := make([]string, 1, 8)
	on[0] = "GET /a"
	from := policy{refused: &refusals{tok: "AT", on: on}}
	a := step(from, event{kind: evRefusedOn, tok: "AT", on: "GET /b"}, t0, testPolicy)
	b := step(from, event{kind: evRefusedOn, tok: "AT", on: "GET /c"}, t0, testPolicy)
	assert.Equal(t, []string{"GET /a", "GET /b"}, a.refused.on)
	assert.Equal(t, []string{"GET /a", "GET /c"}, b.refused.on)
	assert.Equal(t, []string{"GET /a"}, from.refused.on)
}

func TestHealthPolicyDecisions(t *testing.T) {
	failing := policy{fail: failures{err: errTestTemporary, count: 1, failedAt: t0, nextTry: t0 + 10*sec}}
	dead := policy{fail: failures{err: ErrReauthorizationRequired, count: 1, failedAt: t0, nextTry: t0 + 60*sec, lastLook: t0}}
	paced := policy{pace: pace{n: 2, at: t0, ok: t0 + 4*sec}}

	t.Run("backing off", func(t *testing.T) {
		assert.False(t, policy{}.backingOff(t0), "nothing failed")
		assert.True(t, failing.backingOff(t0+9*sec), "within the wait")
		assert.False(t, failing.backingOff(t0+10*sec), "the wait is over")
		assert.False(t, failing.backingOff(t0-12*sec), "the clock stepped back by more than the wait")
		assert.True(t, failing.backingOff(t0-sec/2), "a reading just before the failure is no step")
	})
	t.Run("looking for a reconnect", func(t *testing.T) {
		assert.False(t, failing.mayLook(t0+2*sec), "only a dead grant looks")
		assert.False(t, dead.mayLook(t0+sec/2), "once a second")
		assert.True(t, dead.mayLook(t0+sec))
		assert.True(t, dead.mayLook(t0-3*sec), "the clock stepped back")
	})
	t.Run("pacing forced requests", func(t *testing.T) {
		until, held := paced.paceHolds(t0 + sec)
		assert.True(t, held)
		assert.Equal(t, t0+4*sec, until)
		_, held = paced.paceHolds(t0 + 4*sec)
		assert.False(t, held, "the pace allows one")
		_, held = paced.paceHolds(t0 - 10*sec)
		assert.False(t, held, "the clock stepped back")
		_, held = policy{}.paceHolds(t0)
		assert.False(t, held, "no streak")
		_, held = paced.paceHolds(t0 + 4*sec + int64(rejectStreak))
		assert.False(t, held, "the streak ended")
	})
	t.Run("dead grants", func(t *testing.T) {
		p := policy{dead: deadGrant{rt: "RT", err: ErrReauthorizationRequired}}
		assert.Equal(t, ErrReauthorizationRequired, p.deadErr("RT"))
		assert.NoError(t, p.deadErr("RT2"), "a reconnect's refresh token is sent")
		assert.NoError(t, policy{}.deadErr(""))
	})
	t.Run("refusals", func(t *testing.T) {
		p := policy{refused: &refusals{tok: "AT", on: []string{"GET /a"}}}
		assert.True(t, p.refusedWith("AT", "GET /a"))
		assert.False(t, p.refusedWith("AT", "GET /b"))
		assert.False(t, p.refusedWith("AT2", "GET /a"))
		assert.Equal(t, "DEBUG", p.refusalLevel("AT").String(), "said once already")
		assert.Equal(t, "WARN", p.refusalLevel("AT2").String())
	})
	t.Run("idle and unchanged", func(t *testing.T) {
		assert.True(t, policy{}.idle())
		for _, p := range []policy{failing, dead, paced, {closed: true}, {notFound: true}, {rejected: "AT"},
			{refused: &refusals{}}, {refreshed: 1}, {lockLost: ErrLockLost}, {dead: deadGrant{rt: "RT"}}} {
			assert.False(t, p.idle(), "%+v", p)
		}
		assert.False(t, policy{}.loadChanges(false, false), "nothing to record")
		assert.True(t, policy{}.loadChanges(true, false))
		assert.True(t, policy{}.loadChanges(false, true))
		assert.True(t, failing.loadChanges(false, false))
		assert.False(t, policy{notFound: true}.loadChanges(true, false))
	})
	t.Run("states", func(t *testing.T) {
		tok := &state{stale: t0 + 10*sec, expire: t0 + 20*sec}
		for _, tc := range []struct {
			p    policy
			cur  *state
			now  int64
			busy bool
			want State
		}{
			{policy{closed: true, fail: dead.fail}, tok, t0, false, StateClosed},
			{dead, tok, t0, false, StateReauthorizationRequired},
			{policy{fail: failures{err: ErrInvalidClient}}, tok, t0, false, StateInvalidClient},
			{policy{lockLost: ErrLockLost}, tok, t0, false, StateLockLost},
			{failing, tok, t0, false, StateBackingOff},
			{policy{notFound: true}, nil, t0, true, StateNotLoaded},
			{policy{notFound: true}, nil, t0, false, StateNotFound},
			{policy{}, nil, t0, false, StateNotLoaded},
			{policy{}, tok, t0, false, StateFresh},
			{policy{}, tok, t0 + 10*sec, false, StateStale},
			{policy{}, tok, t0 + 20*sec, false, StateExpired},
		} {
			assert.Equal(t, tc.want, tc.p.state(tc.cur, tc.now, tc.busy), "%+v at %d", tc.p, tc.now)
		}
	})
}

func TestHealthPolicyArithmeticSaturates(t *testing.T) {
	assert.Equal(t, int64(math.MaxInt64), satAdd(math.MaxInt64-1, 10))
	assert.Equal(t, int64(math.MinInt64), satAdd(math.MinInt64+1, -10))
	p := step(policy{}, failed(errTestTemporary), math.MaxInt64-1, testPolicy)
	require.Equal(t, int64(math.MaxInt64), p.fail.nextTry)
	assert.True(t, p.backingOff(math.MaxInt64-1))
}

var errTestTemporary = fmt.Errorf("ucoauth test: a temporary failure")

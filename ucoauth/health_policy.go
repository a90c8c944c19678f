package ucoauth

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// The health policy: backoff, the pace of refreshes forced by the API's
// refusals, dead grants and reconnects, as pure functions of a policy
// state, an event and the time (unix nanoseconds). Nothing here locks,
// reads a clock or does I/O; the token source applies the result under its
// mutex and publishes it (see update).

// lookEvery is how often, at most, a source whose grant is dead reads the
// store on demand for a reconnect saved by another process.
const lookEvery = time.Second

// rejectStreak is how soon after its pace allowed it a token request forced
// by the API's refusals must come to continue the streak, which backs off.
const rejectStreak = time.Minute

// maxRefusedRequests bounds the requests a source remembers as refused
// with its current token.
const maxRefusedRequests = 16

// policy is a source's health as the policy sees it. It is comparable with
// its zero value: a source whose policy is zero records nothing (see idle).
// It is never modified once published.
type policy struct {
	fail      failures
	pace      pace
	dead      deadGrant
	rejected  string    // an access token the API refused: never served again
	refused   *refusals // the requests refused with a token held in service, or nil
	refreshed int64     // unix nanos of this source's last successful refresh
	notFound  bool      // the last look found no token
	closed    bool
	lockLost  error // a save being retried lost its lock (ErrLockLost); nil once held again
}

// failures is the streak of failed loads and refreshes.
type failures struct {
	err      error // the last failure; nil after a success
	count    int   // failures in a row
	nextTry  int64 // no refresh starts before it
	failedAt int64 // when nextTry was set
	lastLook int64 // when a dead grant last looked at the store
}

// pace is the streak of token requests forced by the API's refusals.
type pace struct {
	n  int   // forced requests in the streak
	at int64 // when the last of them was admitted
	ok int64 // no forced request before it
}

// deadGrant is a refresh token the server refused, never sent again, and
// the server's answer, which stays the word on it.
type deadGrant struct {
	rt  string
	err error
}

// refusals is a token the API refused while the pace held its refresh
// back: still served, but not sent again, before the pace allows, for the
// requests (method and path) it was refused for.
type refusals struct {
	tok string
	on  []string
}

// policyConfig is what the policy takes from the options.
type policyConfig struct {
	minBackoff, maxBackoff time.Duration
	// jitter returns a uniform draw from [0, n); rand.N outside tests.
	jitter func(n int64) int64
}

func newPolicyConfig(o *options) policyConfig {
	return policyConfig{minBackoff: o.minBackoff, maxBackoff: o.maxBackoff, jitter: rand.N[int64]}
}

// eventKind names what happened to a source.
type eventKind int

const (
	evLoaded        eventKind = iota // a load or refresh succeeded, or found no token (missing)
	evFailed                         // a load or refresh failed with err
	evRevoked                        // the store holds a tombstone of the grant
	evDead                           // the server refused refresh token tok for good, with err
	evForced                         // a token request forced by a refusal was admitted
	evRejected                       // the API refused tok, the token served
	evBackInService                  // the pace held back the refresh of tok: it is served again
	evRefusedOn                      // the API refused tok for request on, while the pace holds
	evLockLost                       // a save being retried lost its lock (err)
	evRetryEnded                     // a save being retried ended
	evClosed                         // the source was closed
	evBuried                         // the grant was revoked through this source: start over
)

// event is what happened, with what the policy needs of it.
type event struct {
	kind       eventKind
	err        error
	retryAfter time.Duration // a server's Retry-After that came with err
	paceUntil  int64         // err is the pace holding a forced request back until then
	missing    bool          // evLoaded: the store holds no token
	refreshed  bool          // evLoaded: the token came from the server just now
	tok        string        // the access token (evRejected, evBackInService, evRefusedOn) or refresh token (evDead)
	on         string        // evRefusedOn: the request's method and path
}

// failed is the event of a failure err, with what err says of when to retry.
func failed(err error) event {
	e := event{kind: evFailed, err: err}
	var we *Error
	if errors.As(err, &we) {
		e.retryAfter = we.RetryAfter
	}
	var pe *apiRefusedError
	if errors.As(err, &pe) {
		e.paceUntil = pe.until
	}
	return e
}

// step is the policy: the state after e happened at now.
func step(p policy, e event, now int64, c policyConfig) policy {
	switch e.kind {
	case evLoaded:
		p.fail, p.dead, p.notFound = failures{}, deadGrant{}, e.missing
		if e.refreshed {
			p.refreshed = now
		}
	case evFailed:
		if p.dead.err != nil && isStoreError(e.err) {
			// The grant is dead and the store could not say whether a
			// reconnect was saved: still dead, looked at again in a second.
			p.fail.err, p.fail.lastLook = p.dead.err, now
			break
		}
		p.fail = backedOff(p.fail, e, now, c)
		if errors.Is(e.err, ErrReauthorizationRequired) {
			p.fail.lastLook = now
		}
	case evRevoked:
		p.fail = backedOff(p.fail, e, now, c)
		p.fail.lastLook = now
		p.notFound, p.rejected, p.dead = false, "", deadGrant{}
	case evDead:
		p.dead = deadGrant{rt: e.tok, err: e.err}
	case evForced:
		n := 1
		if p.pace.at != 0 && now < satAdd(p.pace.ok, int64(rejectStreak)) {
			n = p.pace.n + 1
		}
		p.pace = pace{n: n, at: now, ok: satAdd(now, int64(backoff(n, nil, 0, c)))}
	case evRejected:
		p.rejected = e.tok
	case evBackInService:
		if p.rejected == e.tok {
			p.rejected = ""
		}
	case evRefusedOn:
		var on []string
		if p.refused != nil && p.refused.tok == e.tok {
			if slices.Contains(p.refused.on, e.on) {
				break
			}
			on = p.refused.on[max(0, len(p.refused.on)-(maxRefusedRequests-1)):]
		}
		// A new slice: a published record is never modified.
		p.refused = &refusals{tok: e.tok, on: append(slices.Clone(on), e.on)}
	case evLockLost:
		p.lockLost = e.err
	case evRetryEnded:
		p.lockLost = nil
	case evClosed:
		p.closed = true
	case evBuried:
		p = policy{closed: p.closed}
	}
	return p
}

// backedOff counts one more failure and sets when the next try may start.
func backedOff(f failures, e event, now int64, c policyConfig) failures {
	f.err = e.err
	f.count++
	f.failedAt = now
	f.nextTry = satAdd(now, int64(backoff(f.count, e.err, e.retryAfter, c)))
	if e.paceUntil != 0 {
		f.nextTry = e.paceUntil
	}
	return f
}

// backoff is the wait after the n-th failure in a row: exponential with
// equal jitter, so a fleet that failed together does not retry together. It
// saturates at the maximum, whatever the options. A dead grant waits the
// maximum; a server's Retry-After longer than the wait is honoured.
func backoff(n int, err error, retryAfter time.Duration, c policyConfig) time.Duration {
	d := c.maxBackoff
	if !errors.Is(err, ErrReauthorizationRequired) && n < 63 && c.minBackoff <= c.maxBackoff>>(n-1) {
		d = c.minBackoff << (n - 1)
	}
	d = d/2 + time.Duration(c.jitter(int64(d/2+1)))
	if retryAfter > d {
		d = min(retryAfter, MaxLifetime) // bounded, whatever the wire said
	}
	return d
}

// idle reports whether the policy records nothing.
func (p policy) idle() bool { return p == policy{} }

// loadChanges reports whether a load or refresh that succeeded (or found
// no token: missing) changes p: a source that records nothing stays so.
func (p policy) loadChanges(missing, refreshed bool) bool {
	return refreshed || p.fail != (failures{}) || p.dead != (deadGrant{}) || p.notFound != missing
}

// backingOff reports whether no refresh may start at now. A clock that
// reads earlier than the failure by more than the wait stepped back (NTP, a
// restored VM, a custom clock): the wait is over rather than stretched by
// the step, which costs one token request per step, never a loop.
func (p policy) backingOff(now int64) bool {
	f := p.fail
	return f.err != nil && now < f.nextTry && !steppedBack(now, f.failedAt, satAdd(f.nextTry, -f.failedAt))
}

// mayLook reports whether a source whose grant is dead may read the store
// again for a reconnect.
func (p policy) mayLook(now int64) bool {
	f := p.fail
	return errors.Is(f.err, ErrReauthorizationRequired) && (now-f.lastLook >= int64(lookEvery) || steppedBack(now, f.lastLook, int64(lookEvery)))
}

// paceHolds reports whether a token request forced by an API refusal must
// wait at now, and until when. The streak ends when no refusal forced a
// request for rejectStreak after the pace allowed one. (Measured from the
// last request instead, a step longer than rejectStreak would end it, and
// an API refusing every token would cost a few token requests a minute
// forever.)
func (p policy) paceHolds(now int64) (until int64, held bool) {
	pc := p.pace
	if pc.at == 0 || now >= satAdd(pc.ok, int64(rejectStreak)) {
		return 0, false
	}
	if now < pc.ok && !steppedBack(now, pc.at, satAdd(pc.ok, -pc.at)) {
		return pc.ok, true
	}
	return 0, false
}

// deadErr is the server's refusal when refreshToken is the one it refused:
// sending it again cannot help. It is that refusal, not the last error: a
// store outage met while looking for a reconnect must not turn a dead grant
// into a store error for good.
func (p policy) deadErr(refreshToken string) error {
	if p.dead.rt == "" || refreshToken != p.dead.rt {
		return nil
	}
	return p.dead.err
}

// refusedWith reports whether the API refused access token tok for the
// request on while the pace held its refresh back.
func (p policy) refusedWith(tok, on string) bool {
	return p.refused != nil && p.refused.tok == tok && slices.Contains(p.refused.on, on)
}

// refusalLevel is the level at which to log a refusal of tok: Warn, but
// Debug once tok was held back in service after a refusal, so that
// requests refused one after another (a resource ID per request outside
// the grant's scope) log it once, not once each.
func (p policy) refusalLevel(tok string) slog.Level {
	if p.refused != nil && p.refused.tok == tok {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}

// apiRefusedError is a token request that an API refusal asked for, held
// back until its streak's pace allows it.
type apiRefusedError struct {
	key   string
	n     int   // forced token requests in the streak so far
	until int64 // unix nanos
}

func (e *apiRefusedError) Error() string {
	return fmt.Sprintf("ucoauth: UltraCart's API refused a refreshed token of %q again (refreshes forced within a minute: %d); the next waits until %s",
		e.key, e.n, time.Unix(0, e.until).UTC().Format(time.RFC3339Nano))
}

// Temporary is true: the next step of the pace may succeed.
func (e *apiRefusedError) Temporary() bool { return true }

// steppedBack reports whether now lies before at, a moment the source
// recorded, by more than slack (and a second): the clock stepped back.
// Less is no step: a caller may have read the clock just before a flight
// that it then found finished recorded at.
func steppedBack(now, at, slack int64) bool {
	slack = max(slack, int64(time.Second))
	return at > math.MinInt64+slack && now < at-slack
}

// satAdd is a+b, saturating instead of overflowing.
func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	if b < 0 && a < math.MinInt64-b {
		return math.MinInt64
	}
	return a + b
}

func isStoreError(err error) bool {
	var se *StoreError
	return errors.As(err, &se)
}

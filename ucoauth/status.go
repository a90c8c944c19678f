package ucoauth

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// State is a merchant's health, as Status reports it.
type State int

// The states of a merchant's token, from healthy to needing action.
const (
	// StateNotLoaded: nothing asked for the token yet (or the Manager holds
	// no source for the key).
	StateNotLoaded State = iota
	// StateFresh: the token is served from memory.
	StateFresh
	// StateStale: the token is served while a refresh replaces it.
	StateStale
	// StateExpired: no valid token; the next caller refreshes.
	StateExpired
	// StateBackingOff: a refresh failed and is retried after NextAttempt.
	// A still-valid token is served meanwhile.
	StateBackingOff
	// StateNotFound: the store holds no token; the merchant never connected
	// or was revoked.
	StateNotFound
	// StateReauthorizationRequired: the grant is dead; the merchant must
	// connect again. A reconnect saved anywhere is picked up on demand.
	StateReauthorizationRequired
	// StateInvalidClient: UltraCart refuses the application's client ID or
	// secret; fix the configuration. The refresh token is kept.
	StateInvalidClient
	// StateClosed: the source was closed. It refreshes no more and serves
	// its token while valid, then ErrClosed.
	StateClosed
	// StateLockLost: a refreshed token could not be saved yet, and the
	// refresh lock kept meanwhile was lost (Err matches ErrLockLost):
	// another process may refresh from the stored token, whose refresh
	// token was rotated away. The token is served, its save retried and
	// the lock taken again; the state lasts until the save lands.
	StateLockLost
)

var stateNames = [...]string{"not loaded", "fresh", "stale", "expired", "backing off", "not found",
	"reauthorization required", "invalid client", "closed", "lock lost"}

// String names the state.
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("State(%d)", int(s))
	}
	return stateNames[s]
}

// Status is a snapshot of one merchant's token health, for dashboards and
// health checks. It holds no secret: the token appears only as a
// fingerprint, and errors never carry tokens, so it prints safely with any
// fmt verb, log/slog or encoding/json.
type Status struct {
	// Key is the store key of the merchant.
	Key string
	// State is the source's state when the snapshot was taken.
	State State
	// Token is the fingerprint of the access token served (see
	// [Fingerprint]), or empty; empty too for a token the API refused,
	// which is no longer served.
	Token string
	// Expiry is the served token's expiry, or zero when Token is empty.
	Expiry time.Time
	// Refreshed is when this source last refreshed the token, or zero.
	Refreshed time.Time
	// Failures counts failed refreshes in a row, and Err is the last one.
	Failures int
	Err      error
	// NextAttempt is when a refresh may be tried again after a failure, or
	// zero when none is held back.
	NextAttempt time.Time
	// Issued is when the served token was issued (by a refresh of any
	// process), or zero when unknown.
	Issued time.Time
	// Overdue reports a served token older than the provider's
	// [RefreshPolicy].StaleAfter: refreshes have been failing for that
	// long, and the merchant may soon have to connect again. Raise an
	// alert.
	Overdue bool
}

// Status reports the source's health. It does no I/O and starts nothing.
func (s *TokenSource) Status() Status {
	now := unixNanos(s.o.now())
	st := Status{Key: s.key}
	cur, p := s.cur.Load(), s.pol()
	// A token the API refused is kept for its refresh token but not
	// served: neither its fingerprint nor its expiry shows.
	if cur != nil && !cur.rejected() {
		st.Token = Fingerprint(cur.tok.AccessToken)
		st.Expiry = cur.tok.Expiry
		if g := s.o.lifetimes().granted(cur.tok); g > 0 {
			st.Issued = cur.tok.Expiry.Add(-g)
			st.Overdue = overdue(st.Issued, now, policyOf(s.o.wire().prov()).StaleAfter)
		}
	}
	if p.refreshed != 0 {
		st.Refreshed = time.Unix(0, p.refreshed)
	}
	st.Failures, st.Err = p.fail.count, p.fail.err
	if p.backingOff(now) {
		st.NextAttempt = time.Unix(0, p.fail.nextTry)
	}
	st.State = p.state(cur, now, s.busy.Load())
	if st.State == StateLockLost && st.Err == nil {
		st.Err = p.lockLost
	}
	return st
}

// state names the health of a source whose policy is p, holding cur
// (nil: none) at now; busy says a flight runs.
func (p policy) state(cur *state, now int64, busy bool) State {
	switch {
	case p.closed:
		return StateClosed
	case errors.Is(p.fail.err, ErrReauthorizationRequired):
		return StateReauthorizationRequired
	case errors.Is(p.fail.err, ErrInvalidClient):
		return StateInvalidClient
	case p.lockLost != nil:
		return StateLockLost
	case p.backingOff(now):
		return StateBackingOff
	case cur == nil && busy:
		return StateNotLoaded
	case cur == nil && p.notFound:
		return StateNotFound
	case cur == nil:
		return StateNotLoaded
	case now < cur.stale:
		return StateFresh
	case now < cur.expire:
		return StateStale
	default:
		return StateExpired
	}
}

// overdue reports a token issued at issued older than stale at now (Unix
// nanoseconds); a zero stale never.
func overdue(issued time.Time, now int64, stale time.Duration) bool {
	at := unixNanos(issued)
	if stale <= 0 || at > now {
		return false
	}
	age := now - at
	if age < 0 {
		age = math.MaxInt64 // saturates: issued before 1678 wraps around
	}
	return age >= int64(stale)
}

package ucoauth

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"time"

	"golang.org/x/oauth2"
)

// The token source's flights: the hot path, the slow path that starts or
// joins a flight, cold starts, and finish, which installs a refresh's
// result and has the health policy take it.

// Token returns a valid token, refreshing it if needed. It implements
// oauth2.TokenSource.
func (s *TokenSource) Token() (*oauth2.Token, error) {
	return s.TokenContext(context.Background())
}

// TokenContext is Token with a context that bounds how long the caller is
// willing to wait for a load or refresh. Cancelling it cancels neither: they
// go on in the background (bounded by the refresh timeout) and serve later
// callers, because a refresh cut short could lose a rotated refresh token.
func (s *TokenSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	// The hot path: two atomic loads and a compare. No lock, no clock read,
	// no allocation, no store I/O.
	if st := s.cur.Load(); st != nil && !s.o.custom && coarseNanos.Load() < st.stale {
		return st.tok, nil
	}
	return s.slow(ctx)
}

func (s *TokenSource) slow(ctx context.Context) (*oauth2.Token, error) {
	now := s.nowNanos()
	st := s.cur.Load()
	if st != nil && now < st.stale {
		return st.tok, nil // fresh by the precise clock
	}
	if st != nil && now < st.expire {
		// Stale but valid: serve it, and start a refresh unless one is
		// running or the last one failed too recently.
		if !s.busy.Load() && !s.pol().backingOff(now) {
			if testHookStale != nil {
				testHookStale()
			}
			s.refreshSoon(st)
		}
		return st.tok, nil
	}

	s.mu.Lock()
	if cur := s.cur.Load(); cur != st && cur != nil && now < cur.expire {
		s.mu.Unlock() // a flight finished while we were getting here
		return cur.tok, nil
	}
	if c := s.inflight; c != nil {
		done := s.doneLocked(c)
		s.mu.Unlock()
		return c.wait(ctx, done, now, s.key)
	}
	p := s.pol()
	if p.backingOff(now) && !p.mayLook(now) {
		s.mu.Unlock()
		return nil, p.fail.err
	}
	if p.closed {
		s.mu.Unlock()
		return nil, s.closedErr()
	}
	c := s.beginLocked()
	if st == nil && ctx.Done() == nil {
		// A cold start for a caller that will wait however long it takes:
		// one store read in its own goroutine, cheaper than a new one.
		s.mu.Unlock()
		return s.coldInline(ctx, c, now)
	}
	fn := s.run
	if st == nil {
		fn = func(c *call) { s.cold(c, now) }
	}
	s.goLocked(func(<-chan struct{}) { fn(c) }) // not closed: checked above, under the lock
	done := s.doneLocked(c)
	s.mu.Unlock()
	return c.wait(ctx, done, now, s.key)
}

// testHookStale, when set by a test, runs when a caller of a stale token
// found no refresh running nor any backoff, before it starts one.
var testHookStale func()

// refreshSoon starts a background refresh of st, the stale token served,
// unless a flight runs, st was replaced meanwhile, the last refresh failed
// too recently, or the source is closed.
func (s *TokenSource) refreshSoon(st *state) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Only if no refresh replaced st since we loaded it; otherwise a fresh
	// token would be refreshed again. And only if no refresh failed since
	// the caller looked: that one's backoff holds.
	if p := s.pol(); s.inflight != nil || s.cur.Load() != st || p.closed || p.backingOff(s.nowNanos()) {
		return
	}
	c := s.beginLocked()
	s.goLocked(func(<-chan struct{}) { s.run(c) })
}

// cold is a cold start in the background, for a caller whose context may
// give up first: the load goes on and serves later callers.
func (s *TokenSource) cold(c *call, now int64) {
	st, at, again := s.coldLoad(c, now)
	if again {
		s.run(c)
		return
	}
	if st != nil && !st.freshAt(at) {
		s.refreshSoon(st)
	}
}

// coldInline is a cold start in the caller's goroutine.
func (s *TokenSource) coldInline(ctx context.Context, c *call, now int64) (*oauth2.Token, error) {
	st, at, again := s.coldLoad(c, now)
	if again {
		s.mu.Lock()
		if s.pol().closed {
			s.mu.Unlock()
			s.finish(c, result{err: s.closedErr()})
			return nil, c.err
		}
		s.goLocked(func(<-chan struct{}) { s.run(c) })
		done := s.doneLocked(c)
		s.mu.Unlock()
		return c.wait(ctx, done, now, s.key)
	}
	if c.err != nil {
		return nil, c.err
	}
	if !st.freshAt(at) {
		s.refreshSoon(st)
	}
	return st.tok, nil
}

// coldLoad reads the store for a source that has no token yet and ends
// flight c with what it found, unless the stored token has expired: then
// again is true and c is still running, for a refresh. now is when the
// caller came; at is when the load ended.
//
// A cold start is the first Token() of every merchant: it costs no
// allocation, lock or clock reading that the load does not need. Its
// deadline starts a timer only for a store that asks (see loadDeadline),
// and the flight's channel is made only for a caller that joins it.
func (s *TokenSource) coldLoad(c *call, now int64) (st *state, at time.Time, again bool) {
	wall := now // the clock's reading is the real one's, unless custom
	if s.o.custom {
		wall = 0
	}
	tok, err := s.persist().loadCold(c.load.start(s.o.timeout, wall), now)
	c.load.stop()
	if err != nil {
		s.finish(c, result{err: &StoreError{Op: "load", Key: s.key, Err: err}})
		return nil, at, false
	}
	at = s.afterLoad(now)
	st = newState(tok, at, s.o.lifetimes())
	if !st.validAt(at) {
		return nil, at, true
	}
	s.finish(c, result{st: st})
	return st, at, false
}

// afterLoad reads the clock after a cold start's load, which began at
// now: the coarse clock when it runs, which the slow path just renewed. It
// reads ahead of the real clock, so a token judged valid by it is valid
// (on this VM a precise reading costs as much as a tenth of the whole cold
// start from a memory store). A custom clock is read as it is.
func (s *TokenSource) afterLoad(now int64) time.Time {
	if s.o.custom {
		return s.o.now()
	}
	if c := coarseNanos.Load(); c != math.MaxInt64 && c >= now {
		return time.Unix(0, c)
	}
	return time.Now()
}

func (s *TokenSource) run(c *call) {
	// Detached from every caller: lock wait plus the request itself. The
	// doubling saturates: a huge timeout must not wrap into a past deadline.
	ctx, cancel := context.WithTimeout(context.Background(), min(s.o.timeout, math.MaxInt64/2)*2)
	defer cancel()
	r := s.refresher().refresh(ctx, s.cur.Load())
	s.finish(c, r)
	if r.ev != nil {
		// Reported once the token is live and the store's lock released,
		// so that a slow hook holds up nobody.
		s.report(*r.ev)
	}
}

// finish ends a load or refresh: it installs its token, has the health
// policy take the outcome, and ends flight c.
func (s *TokenSource) finish(c *call, r result) {
	s.mu.Lock()
	if r.forcedAt != 0 {
		s.apply(event{kind: evForced}, r.forcedAt)
	}
	if r.dead != (deadGrant{}) {
		s.apply(event{kind: evDead, tok: r.dead.rt, err: r.dead.err}, 0)
	}
	r.st, r.err = s.heldBackLocked(r.st, r.err)
	if r.st != nil {
		s.cur.Store(r.st)
	}
	switch {
	case errors.Is(r.err, ErrRevoked):
		s.dropRevokedLocked(r.err)
	case r.err == nil || errors.Is(r.err, ErrTokenNotFound):
		// A missing token costs UltraCart nothing and may appear any
		// moment (the merchant connects): no backoff.
		missing, refreshed := r.err != nil, r.ev != nil && r.ev.Token != nil
		if s.pol().loadChanges(missing, refreshed) {
			s.apply(event{kind: evLoaded, missing: missing, refreshed: refreshed}, s.nowNanos())
		}
	default:
		s.apply(failed(r.err), unixNanos(s.o.now()))
	}
	s.endLocked(c, r.st, r.err)
}

// isPaceHold reports whether err is the pace holding a forced request back.
// (Its own function: the target of errors.As escapes, and a cold start
// must not pay for it.)
func isPaceHold(err error) bool {
	var pace *apiRefusedError
	return errors.As(err, &pace)
}

// heldBackLocked ends a refresh that a refusal forced and the pace held
// back (no state and an *apiRefusedError) with no newer token stored: the
// refused token goes back into service, with no error and no backoff, so
// that every other caller, and the flight's waiters, get it. The refused
// caller sees the same token again and learns why from hold. A token too
// close to its expiry to serve stays out, with the error. s.mu must be
// held.
func (s *TokenSource) heldBackLocked(st *state, err error) (*state, error) {
	if st != nil || err == nil || !isPaceHold(err) {
		return st, err
	}
	cur := s.cur.Load()
	if cur == nil || !cur.rejected() {
		return st, err
	}
	now := s.o.now()
	back := newState(cur.tok, now, s.o.lifetimes())
	if !back.validAt(now) {
		return st, err
	}
	level := slog.LevelInfo
	if s.pol().refusalLevel(cur.tok.AccessToken) == slog.LevelDebug {
		level = slog.LevelDebug // said once for this token already
	}
	if s.pol().rejected == cur.tok.AccessToken {
		s.apply(event{kind: evBackInService, tok: cur.tok.AccessToken}, 0)
	}
	s.o.logger.Log(context.Background(), level, "ucoauth: the API refused a fresh token; refreshes forced by refusals are paced, so it stays in service", "key", s.key, "token", LogToken(cur.tok))
	return back, nil
}

func (s *TokenSource) report(e RefreshEvent) {
	switch {
	case e.Token == nil && errors.Is(e.Err, ErrInvalidClient):
		// Every merchant fails alike until the configuration is fixed;
		// logged once per backoff step, the refresh token kept.
		s.o.logger.Error("ucoauth: UltraCart refused the application's client credentials; the merchant's refresh token is kept", "key", e.Key, "err", e.Err)
	case e.Token == nil:
		s.o.logger.Warn("ucoauth: refresh failed", "key", e.Key, "err", e.Err, "temporary", temporary(e.Err))
	case e.Err != nil:
		s.o.logger.Error("ucoauth: refreshed, with a problem", "key", e.Key, "token", LogToken(e.Token), "err", e.Err)
	default:
		s.o.logger.Info("ucoauth: refreshed", "key", e.Key, "token", LogToken(e.Token), "took", e.Duration)
	}
	if s.o.hook != nil {
		s.o.hook(e)
	}
}

package ucoauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// TokenSource is an oauth2.TokenSource for one merchant that refreshes its
// token before it expires and persists every new token in a TokenStore.
//
// A token has three states. While fresh it is served from memory with no
// lock, store I/O, allocation or even a clock read: freshness is judged
// against a process-wide coarse clock (10 ms ticks, read ahead of real time,
// so it can only err towards checking the precise clock). Inside the
// early-refresh window it is stale: still served, while one background
// refresh replaces it. Once expired it is invalid: callers wait for that one
// refresh, or for their own context.
//
// Create one TokenSource per key with NewTokenSource (or a Manager) and
// share it; it is safe for concurrent use. Close it when done: that stops
// its background work. The zero value is not usable. The returned tokens are
// shared and must not be modified.
type TokenSource struct {
	*shared
	key string

	cur  atomic.Pointer[state]  // nil until loaded
	h    atomic.Pointer[health] // nil while nothing worth recording happened
	busy atomic.Bool            // a flight is running: the stale path need not lock

	// A flight is the one load, refresh or revoke in progress; everyone
	// else waits for it. The struct stays at 64 bytes: a process may hold
	// 100,000 sources, so whatever is rarely needed lives behind h.
	mu       sync.Mutex
	inflight *call
}

// health is the rarely-changing part of a source: failures, backoff, the
// tokens UltraCart refused, and its background work. It is never modified
// once published; writers copy it under mu (see update).
type health struct {
	err       error  // the last refresh's failure; nil after a success
	count     int    // failures in a row
	nextTry   int64  // unix nanos: no refresh starts before it
	failedAt  int64  // unix nanos: when nextTry was set
	lastLook  int64  // unix nanos: when a dead grant last looked at the store
	refreshed int64  // unix nanos of this source's last successful refresh
	forced    int    // token requests forced by API refusals in the current streak
	forcedAt  int64  // unix nanos of the last of them
	forcedOK  int64  // unix nanos: no forced token request before it
	deadRT    string // a refresh token UltraCart refused: never sent again
	deadErr   error  // and UltraCart's answer, which stays the word on it
	rejected  string // an access token the API refused: never served again
	notFound  bool   // the last look found no token
	closed    bool
	bg        *background // nil until the first background goroutine
	retry     *retryHold  // the lock a save being retried keeps, or nil
	lockLost  error       // that save's lock was lost (ErrLockLost); nil once held again

	// A token the API refused while the pace held its refresh back: still
	// served, but not sent again, before the pace allows, for the requests
	// (method and path) it was refused for (see hold).
	refusedTok string
	refusedOn  []string
}

// background tracks the goroutines a source started, so Close can stop and
// wait for them.
type background struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	running int // guarded by the source's mu
	saving  int // saves being retried, guarded by the source's mu (see spawnSaving)
}

// lookEvery is how often, at most, a source whose grant is dead reads the
// store on demand for a reconnect saved by another process.
const lookEvery = time.Second

// rejectStreak is how soon after its pace allowed it a token request forced
// by the API's refusals must come to continue the streak, which backs off.
const rejectStreak = time.Minute

// backingOff reports whether no refresh may start at now. A clock that
// reads earlier than the failure by more than the wait stepped back (NTP, a
// restored VM, a custom clock): the wait is over rather than stretched by
// the step, which costs one token request per step, never a loop.
func (h *health) backingOff(now int64) bool {
	return h != nil && h.err != nil && now < h.nextTry && !steppedBack(now, h.failedAt, satAdd(h.nextTry, -h.failedAt))
}

// steppedBack reports whether now lies before at, a moment the source
// recorded, by more than slack (and a second): the clock stepped back.
// Less is no step: a caller may have read the clock just before a flight
// that it then found finished recorded at.
func steppedBack(now, at, slack int64) bool {
	slack = max(slack, int64(time.Second))
	return at > math.MinInt64+slack && now < at-slack
}

func (h *health) isClosed() bool { return h != nil && h.closed }

// mayLook reports whether a source whose grant is dead may read the store
// again for a reconnect.
func (h *health) mayLook(now int64) bool {
	return h != nil && errors.Is(h.err, ErrReauthorizationRequired) && (now-h.lastLook >= int64(lookEvery) || steppedBack(now, h.lastLook, int64(lookEvery)))
}

// update replaces the health record with a modified copy. s.mu must be held.
func (s *TokenSource) update(fn func(*health)) *health {
	var n health
	if old := s.h.Load(); old != nil {
		n = *old
	}
	fn(&n)
	s.h.Store(&n)
	return &n
}

// shared is what every source of a Manager has in common.
type shared struct {
	cfg   *oauth2.Config
	store TokenStore
	o     *options
	miss  *missCache // a Manager's missing keys; nil for a source made alone
}

// state is a token with its derived deadlines (unix nanoseconds), computed
// once when installed so that the hot path only compares.
type state struct {
	tok    *oauth2.Token
	stale  int64 // from here on, refresh in the background
	expire int64 // from here on, do not serve
}

type call struct {
	done chan struct{}
	st   *state
	err  error
}

// ErrClosed is returned by a TokenSource that was closed (by Close, or by
// its Manager's Forget, Close or idle eviction) once it has no valid token
// left to serve. Ask the Manager for the key again.
var ErrClosed = errors.New("ucoauth: token source is closed")

// NewTokenSource returns a TokenSource for key in store, refreshing through
// cfg's token endpoint. It does no I/O: the token is loaded on first use.
func NewTokenSource(cfg *oauth2.Config, store TokenStore, key string, opts ...Option) *TokenSource {
	return newShared(cfg, store, opts).source(key)
}

func newShared(cfg *oauth2.Config, store TokenStore, opts []Option) *shared {
	if cfg == nil || store == nil {
		panic("ucoauth: a TokenSource needs a non-nil config and store")
	}
	return &shared{cfg: cfg, store: store, o: newOptions(opts)}
}

func (sh *shared) source(key string) *TokenSource { return &TokenSource{shared: sh, key: key} }

// Key returns the store key this source serves.
func (s *TokenSource) Key() string { return s.key }

// String describes the source without revealing its token.
func (s *TokenSource) String() string { return fmt.Sprintf("ucoauth.TokenSource(%q)", s.key) }

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

// nowNanos reads the precise clock. On the real clock it also keeps the
// coarse clock running, which stops itself when nobody comes here.
func (s *TokenSource) nowNanos() int64 {
	if s.o.custom {
		return unixNanos(s.o.now())
	}
	now := time.Now().UnixNano()
	coarseRenew(now)
	return now
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
		if !s.busy.Load() && !s.h.Load().backingOff(now) {
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
		s.mu.Unlock()
		return s.wait(ctx, c, now)
	}
	h := s.h.Load()
	if h.backingOff(now) && !h.mayLook(now) {
		s.mu.Unlock()
		return nil, h.err
	}
	if h.isClosed() {
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
		fn = s.cold
	}
	s.goLocked(func(<-chan struct{}) { fn(c) }) // not closed: checked above, under the lock
	s.mu.Unlock()
	return s.wait(ctx, c, now)
}

func (s *TokenSource) closedErr() error {
	return fmt.Errorf("%w (key %q)", ErrClosed, s.key)
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
	if s.inflight != nil || s.cur.Load() != st || s.h.Load().isClosed() || s.h.Load().backingOff(s.nowNanos()) {
		return
	}
	c := s.beginLocked()
	s.goLocked(func(<-chan struct{}) { s.run(c) })
}

// goLocked runs fn in a goroutine that Close waits for. s.mu must be held
// and the source not closed.
func (s *TokenSource) goLocked(fn func(stop <-chan struct{})) {
	bg := s.h.Load().bgOrNil()
	if bg == nil {
		bg = &background{stop: make(chan struct{})}
		s.update(func(h *health) { h.bg = bg })
	}
	bg.wg.Add(1)
	bg.running++
	go func() {
		defer bg.wg.Done()
		fn(bg.stop)
		s.mu.Lock()
		// The last one out drops the tracker, so that 100,000 idle
		// sources do not each keep one.
		if bg.running--; bg.running == 0 {
			if h := s.h.Load(); !h.closed && h.bg == bg {
				if h.idle() {
					s.h.Store(nil)
				} else {
					s.update(func(h *health) { h.bg = nil })
				}
			}
		}
		s.mu.Unlock()
	}()
}

// idle reports whether h records nothing but its tracker.
func (h *health) idle() bool {
	return h.err == nil && h.count == 0 && h.nextTry == 0 && h.failedAt == 0 && h.lastLook == 0 && h.refreshed == 0 &&
		h.forced == 0 && h.deadRT == "" && h.rejected == "" && h.refusedTok == "" && !h.notFound && !h.closed && h.lockLost == nil
}

func (h *health) bgOrNil() *background {
	if h == nil {
		return nil
	}
	return h.bg
}

func (s *TokenSource) wait(ctx context.Context, c *call, now int64) (*oauth2.Token, error) {
	select {
	case <-c.done:
		if c.err != nil && (c.st == nil || now >= c.st.expire) {
			return nil, c.err
		}
		return c.st.tok, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("ucoauth: waiting for token %q: %w", s.key, ctx.Err())
	}
}

// beginLocked starts a flight. s.mu must be held.
func (s *TokenSource) beginLocked() *call {
	c := &call{done: make(chan struct{})}
	s.inflight = c
	s.busy.Store(true)
	return c
}

// notFound is the error for a key the store does not hold.
func (s *TokenSource) notFound() error {
	return &StoreError{Op: "load", Key: s.key, Err: ErrTokenNotFound}
}

// endLocked ends flight c with its result, releasing s.mu. Every flight
// ends with a state or an error, never neither.
func (s *TokenSource) endLocked(c *call, st *state, err error) {
	s.inflight = nil
	s.busy.Store(false)
	c.st, c.err = st, err
	s.mu.Unlock()
	close(c.done)
}

// finish ends a load or refresh: it installs st and records the outcome
// for backoff. refreshed says st came from UltraCart just now.
func (s *TokenSource) finish(c *call, st *state, err error, refreshed bool) {
	s.mu.Lock()
	if st != nil {
		s.cur.Store(st)
	}
	h := s.h.Load()
	switch {
	case errors.Is(err, ErrRevoked):
		s.dropRevokedLocked(err)
	case err == nil || errors.Is(err, ErrTokenNotFound):
		// A missing token costs UltraCart nothing and may appear any
		// moment (the merchant connects): no backoff.
		missing := err != nil
		if refreshed || (missing && (h == nil || !h.notFound)) || (h != nil && (h.err != nil || h.deadRT != "" || h.notFound != missing)) {
			now := s.nowNanos()
			s.update(func(h *health) {
				h.err, h.count, h.nextTry, h.failedAt, h.deadRT, h.deadErr, h.notFound = nil, 0, 0, 0, "", nil, missing
				if refreshed {
					h.refreshed = now
				}
			})
		}
	case h != nil && h.deadErr != nil && isStoreError(err):
		// The grant is dead and the store could not say whether a
		// reconnect was saved: still dead, and looked at again in a second.
		now := unixNanos(s.o.now())
		s.update(func(h *health) { h.err, h.lastLook = h.deadErr, now })
	default:
		now := s.o.now()
		s.update(func(h *health) {
			h.err = err
			h.count++
			h.failedAt = unixNanos(now)
			h.nextTry = unixNanos(now.Add(s.backoff(h.count, err)))
			if pace, ok := err.(*apiRefusedError); ok {
				h.nextTry = pace.until
			}
			if errors.Is(err, ErrReauthorizationRequired) {
				h.lastLook = unixNanos(now)
			}
		})
	}
	s.endLocked(c, st, err)
}

func isStoreError(err error) bool {
	var se *StoreError
	return errors.As(err, &se)
}

// cold is a cold start in the background, for a caller whose context may
// give up first: the load goes on and serves later callers.
func (s *TokenSource) cold(c *call) {
	st, again := s.coldLoad(c)
	if again {
		s.run(c)
		return
	}
	if st != nil && !st.freshAt(s.o.now()) {
		s.refreshSoon(st)
	}
}

// coldInline is a cold start in the caller's goroutine.
func (s *TokenSource) coldInline(ctx context.Context, c *call, now int64) (*oauth2.Token, error) {
	st, again := s.coldLoad(c)
	if again {
		s.mu.Lock()
		if s.h.Load().isClosed() {
			s.mu.Unlock()
			s.finish(c, nil, s.closedErr(), false)
		} else {
			s.goLocked(func(<-chan struct{}) { s.run(c) })
			s.mu.Unlock()
		}
		return s.wait(ctx, c, now)
	}
	if c.err != nil {
		return nil, c.err
	}
	if !st.freshAt(s.o.now()) {
		s.refreshSoon(st)
	}
	return st.tok, nil
}

// coldLoad reads the store for a source that has no token yet and ends
// flight c with what it found, unless the stored token has expired: then
// again is true and c is still running, for a refresh.
func (s *TokenSource) coldLoad(c *call) (st *state, again bool) {
	ctx, cancel := context.WithTimeout(context.Background(), s.o.timeout)
	tok, err := s.loadCold(ctx)
	cancel()
	if err != nil {
		s.finish(c, nil, &StoreError{Op: "load", Key: s.key, Err: err}, false)
		return nil, false
	}
	now := s.o.now()
	st = s.newState(tok, now)
	if !st.validAt(now) {
		return nil, true
	}
	s.finish(c, st, nil, false)
	return st, false
}

func (s *TokenSource) run(c *call) {
	// Detached from every caller: lock wait plus the request itself. The
	// doubling saturates: a huge timeout must not wrap into a past deadline.
	ctx, cancel := context.WithTimeout(context.Background(), min(s.o.timeout, math.MaxInt64/2)*2)
	defer cancel()
	st, ev, err := s.refresh(ctx)
	st, err = s.heldBack(st, err)
	s.finish(c, st, err, ev != nil && ev.Token != nil)
	if ev != nil {
		// Reported once the token is live and the store's lock released,
		// so that a slow hook holds up nobody.
		s.report(*ev)
	}
}

// Close stops the source's background work: a refresh in flight is allowed
// to finish (cutting it short could lose a rotated refresh token), a save
// still being retried gets one last attempt. Close waits for both. After
// Close the source serves its token while it is valid, then returns
// [ErrClosed]. Close is safe to call more than once and always returns nil.
func (s *TokenSource) Close() error {
	if bg := s.shutdown(); bg != nil {
		bg.wg.Wait()
	}
	return nil
}

// shutdown marks the source closed and signals its goroutines to stop,
// without waiting. It returns what to wait for, if anything.
func (s *TokenSource) shutdown() *background {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.h.Load()
	if h.isClosed() {
		return h.bg
	}
	h = s.update(func(h *health) { h.closed = true })
	if h.bg != nil {
		close(h.bg.stop)
	}
	return h.bg
}

// backoff is the wait after the n-th failure in a row: exponential with
// equal jitter, so a fleet that failed together does not retry together. It
// saturates at the maximum, whatever the options.
func (s *TokenSource) backoff(n int, err error) time.Duration {
	d := s.o.maxBackoff
	if !errors.Is(err, ErrReauthorizationRequired) && n < 63 && s.o.minBackoff <= s.o.maxBackoff>>(n-1) {
		d = s.o.minBackoff << (n - 1)
	}
	d = d/2 + rand.N(d/2+1)
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > d {
		d = min(e.RetryAfter, MaxLifetime) // bounded, whatever the wire said
	}
	return d
}

// newState derives a token's deadlines from the lifetime it was granted
// (its ExpiresIn, or what remains when that is unknown). The early window is
// capped at half the lifetime and the expiry margin at a tenth of it, so that
// a short or unknown lifetime never causes a refresh loop. A token without an
// expiry (saved by hand) is served but refreshed at once, never trusted
// forever; nor is one whose expiry lies beyond MaxLifetime (year 3000 in a
// hand-edited record): it counts as expiring after MaxLifetime.
func (s *TokenSource) newState(tok *oauth2.Token, now time.Time) *state {
	if tok.Expiry.IsZero() {
		return newStateAt(tok, now, now.Add(FallbackLifetime))
	}
	expiry := tok.Expiry
	if limit := now.Add(MaxLifetime); expiry.After(limit) {
		expiry = limit
	}
	remaining := expiry.Sub(now)
	if remaining <= 0 {
		return newStateAt(tok, expiry, expiry)
	}
	lifetime := remaining
	if tok.ExpiresIn > 0 && tok.ExpiresIn <= int64(MaxLifetime/time.Second) {
		lifetime = time.Duration(tok.ExpiresIn) * time.Second
	}
	margin := min(10*time.Second, lifetime/10)
	window := max(min(s.o.early, lifetime/2), margin)
	return newStateAt(tok, expiry.Add(-window), expiry.Add(-margin))
}

func newStateAt(tok *oauth2.Token, staleAt, expireAt time.Time) *state {
	return &state{tok: tok, stale: unixNanos(staleAt), expire: unixNanos(expireAt)}
}

// rejectedState holds a token the API refused: never served, but its
// refresh token is kept for the refresh.
func rejectedState(tok *oauth2.Token) *state {
	return &state{tok: tok, stale: math.MinInt64, expire: math.MinInt64}
}

// Time far outside int64 nanoseconds (before 1678, after 2262) saturates.
var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// unixNanos is t.UnixNano, saturating instead of overflowing.
func unixNanos(t time.Time) int64 {
	switch {
	case t.Before(minNanoTime):
		return math.MinInt64
	case t.After(maxNanoTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func (st *state) freshAt(now time.Time) bool { return unixNanos(now) < st.stale }
func (st *state) validAt(now time.Time) bool { return unixNanos(now) < st.expire }

// invalidate tells the source that UltraCart's API refused tok (it answered
// 401). If tok is still the token the source serves, the source stops
// serving it, even though its expiry says it is valid and even if the store
// still holds it, and the next caller refreshes; invalidate reports whether
// it did so. A token that was already replaced is left alone, so that many
// callers refused the same token cause one refresh. The refresh token is
// kept. A token another process saved meanwhile is adopted at no cost; token
// requests that refusals force are paced (see [TokenSource.Status]): within
// a minute of the last one, the next waits one backoff step, doubling, so
// that an API refusing tokens, or some requests, causes no storm. When the
// pace holds that request back and no newer token is stored, the refused
// token goes back into service (see [RefusedError]): an API that refuses a
// fresh token on one path and accepts it on another must not take the
// merchant offline. [Transport] calls it.
func (s *TokenSource) invalidate(tok *oauth2.Token) bool {
	if tok == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cur.Load()
	if cur == nil || cur.tok.AccessToken != tok.AccessToken {
		return false
	}
	if cur.expire == math.MinInt64 {
		return true // already invalidated
	}
	s.cur.Store(rejectedState(cur.tok))
	h := s.update(func(h *health) { h.rejected = tok.AccessToken })
	s.o.logger.Log(context.Background(), refusalLevel(h, tok), "ucoauth: the API refused the token; refreshing it", "key", s.key, "token", LogToken(tok))
	return true
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

// paceForced admits a token request forced by an API refusal, or refuses
// it until the streak's pace allows one: each waits one backoff step longer
// than the one before, up to the maximum backoff. The streak ends when no
// refusal forced a request for rejectStreak after the pace allowed one.
// (Measured from the last request instead, a step longer than rejectStreak
// would end it, and an API refusing every token would cost a few token
// requests a minute forever.)
func (s *TokenSource) paceForced() error {
	now := s.nowNanos()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 1
	if h := s.h.Load(); h != nil && h.forcedAt != 0 && now < satAdd(h.forcedOK, int64(rejectStreak)) {
		if now < h.forcedOK && !steppedBack(now, h.forcedAt, satAdd(h.forcedOK, -h.forcedAt)) {
			return &apiRefusedError{key: s.key, n: h.forced, until: h.forcedOK}
		}
		n = h.forced + 1
	}
	next := satAdd(now, int64(s.backoff(n, nil)))
	s.update(func(h *health) { h.forced, h.forcedAt, h.forcedOK = n, now, next })
	return nil
}

// satAdd is a+b, saturating instead of overflowing.
func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// refresh brings the token up to date: it adopts a fresh token another
// process stored, or refreshes under the store's lock and saves the result
// before returning it. A non-nil state may come with an error; run installs
// it and still backs off. ev, when set, is the refresh to report.
func (s *TokenSource) refresh(ctx context.Context) (st *state, ev *RefreshEvent, err error) {
	var mem *oauth2.Token
	byAPI := false // the API refused the token: a forced refresh, paced
	if cur := s.cur.Load(); cur != nil {
		if cur.freshAt(s.o.now()) {
			return cur, nil, nil // already fresh: never refresh a fresh token
		}
		mem, byAPI = cur.tok, cur.expire == math.MinInt64
	}
	// Look before locking: another process may have refreshed already, and
	// a cold start of many merchants should not take a lock per merchant.
	stored, fresh, corrupt, err := s.look(ctx, mem)
	if fresh != nil || err != nil {
		return fresh, nil, err
	}
	if err := s.dead(newest(mem, stored)); err != nil {
		return nil, nil, err // no request for a grant known dead
	}
	if byAPI {
		if err := s.pacedBeforeLock(); err != nil {
			return nil, nil, err // no store lock for a refusal the pace holds back
		}
	}
	lk, adopt, err := s.lock(ctx, mem)
	if err != nil {
		return nil, nil, err
	}
	if adopt != nil {
		return adopt, nil, nil // the holder we waited for saved a fresh token
	}
	if lk != nil {
		// Released when the refresh ends, unless a save being retried
		// keeps it (see retryLater).
		defer lk.release()
		// Under the lock, look again: the holder we waited for has saved.
		if stored, fresh, corrupt, err = s.look(ctx, mem); fresh != nil || err != nil {
			return fresh, nil, err
		}
	}
	if corrupt {
		// Only a record the store lets the token in memory replace is
		// garbage. One it keeps (sealed with a key this process lacks,
		// written in a newer format) was written after that token, by a
		// process that may have rotated its refresh token away: refreshing
		// from memory would send a dead one, and the result could not be
		// saved anyway.
		if err := s.save(ctx, mem); err != nil {
			if !isStoreError(err) { // ErrSuperseded: a token arrived meanwhile
				err = &StoreError{Op: "save", Key: s.key, Err: err}
			}
			return nil, nil, err
		}
		s.o.logger.Warn("ucoauth: replaced an unreadable stored record with the token in memory, to refresh it", "key", s.key)
	}
	base := newest(mem, stored) // refresh with the newest refresh token known
	if err := s.dead(base); err != nil {
		return nil, nil, err
	}
	if byAPI {
		if err := s.paceForced(); err != nil {
			return nil, nil, err
		}
	}
	return s.refreshFrom(ctx, base, lk)
}

// newest is the stored token when it is at least as recent as mem.
func newest(mem, stored *oauth2.Token) *oauth2.Token {
	if stored != nil && (mem == nil || !issuedBefore(stored, mem)) {
		return stored
	}
	return mem
}

// issuedBefore reports whether a was issued before b: by when each was
// issued (its expiry less the lifetime granted) when both say, otherwise by
// expiry. A token saved by a refresh elsewhere may expire before the one in
// memory that it replaced (UltraCart granted a shorter lifetime), and that
// refresh may have rotated the refresh token in memory away; only a token
// issued earlier is an older copy (a store that lost writes, a stale
// replica, or a save of ours that failed).
func issuedBefore(a, b *oauth2.Token) bool {
	if a.ExpiresIn > 0 && b.ExpiresIn > 0 {
		return issuedAt(a).Before(issuedAt(b))
	}
	return a.Expiry.Before(b.Expiry)
}

// issuedAt is t's expiry less its granted lifetime, which is bounded by
// MaxLifetime first: a store of one's own may hold any expires_in, and the
// product must not overflow.
func issuedAt(t *oauth2.Token) time.Time {
	return t.Expiry.Add(-time.Duration(min(t.ExpiresIn, int64(MaxLifetime/time.Second))) * time.Second)
}

// dead returns the error of the dead grant when base holds the refresh
// token UltraCart already refused: sending it again cannot help and costs
// the application's rate limit. It is UltraCart's refusal, not the last
// error: a store outage met while looking for a reconnect must not turn a
// dead grant into a store error for good.
func (s *TokenSource) dead(base *oauth2.Token) error {
	h := s.h.Load()
	if h == nil || h.deadRT == "" || base == nil || base.RefreshToken != h.deadRT {
		return nil
	}
	return h.deadErr
}

// look reads the stored token. fresh is set when that token is news worth
// adopting: a different, fresh token, which another process saved. corrupt
// says the record could not be read for good, while mem can stand in for it.
func (s *TokenSource) look(ctx context.Context, mem *oauth2.Token) (stored *oauth2.Token, fresh *state, corrupt bool, err error) {
	stored, err = s.store.Load(ctx, s.key)
	switch {
	case errors.Is(err, ErrRevoked):
		// A tombstone: the grant was revoked. Whatever this process holds
		// of it is dropped (see finish), never saved back.
		return nil, nil, false, &StoreError{Op: "load", Key: s.key, Err: err}
	case errors.Is(err, ErrTokenNotFound):
		if mem == nil {
			return nil, nil, false, s.notFound()
		}
		// The store lost the token (a Redis restart without persistence)
		// or another process deleted it. Go on from the copy in memory: it
		// may hold the only live refresh token, and a revoked grant will
		// fail its refresh with ErrReauthorizationRequired anyway.
		return nil, nil, false, nil
	case err != nil:
		se := &StoreError{Op: "load", Key: s.key, Err: err}
		if mem == nil || se.Temporary() {
			return nil, nil, false, se
		}
		// A corrupt record will not heal, and the token in memory is good:
		// refresh from it, once it replaced the record (see refresh).
		return nil, nil, true, nil
	}
	// Only a different token is news; the one we hold is stale already.
	// A token the API refused is never news.
	if rej := s.h.Load(); rej != nil && rej.rejected == stored.AccessToken {
		return stored, nil, false, nil
	}
	if mem == nil || (stored.AccessToken != mem.AccessToken && !issuedBefore(stored, mem)) {
		now := s.o.now()
		if st := s.newState(stored, now); st.freshAt(now) {
			return stored, st, false, nil
		}
	}
	return stored, nil, false, nil
}

// refreshFrom refreshes with base's refresh token and saves the result,
// under lk, the store's refresh lock (nil when it has none). It checks lk
// immediately before it presents the refresh token, and gives up when the
// lock is lost: another process may be presenting the same one. Once
// UltraCart answered, the token is saved whatever lk says: its refresh
// token is the only live one.
func (s *TokenSource) refreshFrom(ctx context.Context, base *oauth2.Token, lk *held) (*state, *RefreshEvent, error) {
	now := s.o.now()
	if base.RefreshToken == "" {
		err := fmt.Errorf("%w: token %q has no refresh token", ErrReauthorizationRequired, s.key)
		if h := s.h.Load(); h != nil && h.rejected == base.AccessToken {
			return nil, nil, err // the API refused it: never serve it again
		}
		if st := s.newState(base, now); st.validAt(now) {
			return st, nil, err // serve it while it lasts
		}
		return nil, nil, err
	}

	rctx, cancel := context.WithTimeout(ctx, s.o.timeout)
	defer cancel()
	if s.o.client != nil {
		rctx = context.WithValue(rctx, oauth2.HTTPClient, s.o.client)
	}
	if err := lk.keep(rctx); err != nil {
		return nil, nil, &StoreError{Op: "lock", Key: s.key, Err: err}
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {base.RefreshToken}}
	// The access token is not sent, but the server issued it and may echo it.
	tok, err := retrieveToken(rctx, s.cfg, form, s.o.simpleKey, s.o.now, base.RefreshToken, base.AccessToken)
	took := s.o.now().Sub(now)
	if tok == nil {
		if errors.Is(err, ErrReauthorizationRequired) {
			s.mu.Lock() // remember it, so that it is never sent again
			s.update(func(h *health) { h.deadRT, h.deadErr = base.RefreshToken, err })
			s.mu.Unlock()
		}
		return nil, &RefreshEvent{Key: s.key, Err: err, Duration: took}, err
	}
	warn := err // ErrBadExpiresIn: keep the token, say so
	if tok.RefreshToken == "" {
		tok.RefreshToken = base.RefreshToken // not rotated: the old one lives on
	}
	if scopeOf(tok) == "" {
		tok = withScope(tok, scopeOf(base))
	}
	tok = withExtras(tok, scopeOf(tok), GrantID(base)) // the same grant, refreshed

	// Saved before it is handed out, so no process can be left holding a
	// refresh token the store has never seen.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.timeout)
	defer scancel()
	if lk != nil {
		lk.got = true
		if err := lk.keep(sctx); err != nil {
			// Too late to give up: UltraCart rotated the refresh token, and
			// the one in tok is the only live one. Saved all the same.
			err = &StoreError{Op: "lock", Key: s.key, Err: err}
			s.o.logger.Error("ucoauth: lost the refresh lock while refreshing; saving the new token all the same", "key", s.key, "err", err)
			warn = errors.Join(warn, err)
		}
	}
	switch err := s.save(sctx, tok); {
	case err == nil:
	case errors.Is(err, ErrRevoked):
		// The store holds a tombstone of this grant: it was revoked
		// meanwhile, and what UltraCart just gave must not live on. The
		// merchant may have connected again since: then the store holds
		// the new grant's token, to be served, not "connect again".
		if stored, fresh, _, _ := s.look(sctx, nil); fresh != nil && GrantID(stored) != GrantID(base) {
			return fresh, &RefreshEvent{Key: s.key, Err: err, Duration: took}, nil
		}
		return nil, &RefreshEvent{Key: s.key, Err: err, Duration: took}, err
	case errors.Is(err, ErrSuperseded):
		stored, fresh, _, _ := s.look(sctx, nil)
		if stored != nil && stored.AccessToken == base.AccessToken && stored.RefreshToken == base.RefreshToken {
			// What "expires later" is the very token we refreshed from: its
			// expiry is bogus (year 3000), or UltraCart granted ours a
			// shorter lifetime. Ours is newer; replace it.
			if err = s.replace(sctx, tok); err == nil {
				break
			}
			if se, ok := err.(*StoreError); ok && se.Temporary() {
				// As for any save: the rotated token must reach the store.
				s.retryLater(tok, base, err, lk, tok.RefreshToken != base.RefreshToken)
			}
		} else if fresh != nil {
			// A newer token won the race; use it instead of ours.
			return fresh, &RefreshEvent{Key: s.key, Token: tok, Err: err, Duration: took}, nil
		}
		warn = errors.Join(warn, err)
	case err.(*StoreError).Temporary():
		warn = errors.Join(warn, err)
		s.retryLater(tok, nil, err, lk, tok.RefreshToken != base.RefreshToken)
	default:
		// Retrying cannot help (the store refuses the record for good):
		// the token lives in memory only, and is served.
		s.o.logger.Error("ucoauth: cannot save the refreshed token, for good; serving it from memory only", "key", s.key, "err", err)
		warn = errors.Join(warn, err)
	}
	return s.newState(tok, s.o.now()), &RefreshEvent{Key: s.key, Token: tok, Err: warn, Duration: took}, nil
}

// replace saves tok over the stored token it was refreshed from, which the
// store's newer-wins rule would otherwise keep because it claims a later
// expiry. It runs under the store's lock (a Locker's), so no other refresh
// sees the moment between the delete and the save.
func (s *TokenSource) replace(ctx context.Context, tok *oauth2.Token) error {
	s.o.logger.Warn("ucoauth: the stored token expires after the one refreshed from it; replacing it", "key", s.key)
	if err := s.store.Delete(ctx, s.key); err != nil {
		return &StoreError{Op: "delete", Key: s.key, Err: err}
	}
	return s.save(ctx, tok)
}

// spawn runs fn in a goroutine that Close stops (by closing stop) and
// waits for. Nothing starts on a closed source: spawn reports whether fn
// started.
func (s *TokenSource) spawn(fn func(stop <-chan struct{})) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h.Load().isClosed() {
		return false
	}
	s.goLocked(fn)
	return true
}

// retryLater keeps trying to save tok in the background (see retrySave),
// unless the source was closed meanwhile: then the token is lost with it,
// and the log says so as plainly as when Close ends a retry. The retry
// keeps lk, the refresh lock, until the save lands: the stored token's
// refresh token was rotated away, and another process holding the lock
// would present it. rotated says that tok's refresh token is new: a
// Manager then keeps the source, idle or not, until the save lands.
func (s *TokenSource) retryLater(tok, replacing *oauth2.Token, err error, lk *held, rotated bool) {
	var hold *retryHold
	if lk != nil {
		if hold = lk.hold; hold == nil {
			hold = &retryHold{lease: lk.lease}
		}
		hold.tok = tok // under hold.mu when borrowed: see held
	}
	started := s.spawnSaving(rotated, func(stop <-chan struct{}) { s.retrySave(tok, stop, replacing, hold) })
	if !started {
		s.o.logger.Error("ucoauth: closed before the refreshed token could be saved; it is lost with this source", "key", s.key, "err", err)
		return
	}
	if lk != nil {
		lk.kept = true
		s.mu.Lock()
		s.update(func(h *health) { h.retry = hold })
		s.mu.Unlock()
	}
}

// save tries a few times quickly, because a store blip must not cost the
// refresh token that UltraCart just rotated. An error that says it is
// permanent is not retried.
//
// A store's error is scrubbed of the token's secrets: a store may quote
// what it could not save (a database refusing the value, a store's own
// fmt.Errorf("saving %v", tok)).
func (s *TokenSource) save(ctx context.Context, tok *oauth2.Token) error {
	var err error
	for i := range 3 {
		if err = s.store.Save(ctx, s.key, tok); err == nil || errors.Is(err, ErrSuperseded) {
			return err
		}
		err = scrubTokens(err, tok)
		se := &StoreError{Op: "save", Key: s.key, Err: err}
		if !se.Temporary() {
			return se
		}
		select {
		case <-ctx.Done():
			return se
		case <-time.After(time.Duration(50<<i) * time.Millisecond):
		}
	}
	return &StoreError{Op: "save", Key: s.key, Err: err}
}

// scrubTokens returns err with the secrets of toks (nil ones skipped)
// scrubbed from its text, within the bounded window (see maxScrubText): a
// token a server issued may be long, and so may a store's message. It
// still unwraps to err.
func scrubTokens(err error, toks ...*oauth2.Token) error {
	if err == nil {
		return nil
	}
	red := newRedactor()
	for _, t := range toks {
		if t != nil {
			red.add(t.AccessToken, t.RefreshToken)
		}
	}
	return &scrubbedError{msg: red.scrubPrefix(err.Error(), maxScrubText), err: err}
}

// retryOnce saves tok; when replacing is set, it first deletes the stored
// token if it is still replacing, the token tok was refreshed from (see
// replace), under the store's lock when it has one (locked: the retry
// holds it already).
func (s *TokenSource) retryOnce(ctx context.Context, tok, replacing *oauth2.Token, locked bool) error {
	if replacing == nil {
		return s.store.Save(ctx, s.key, tok)
	}
	if l, ok := s.store.(Locker); ok && !locked {
		unlock, err := l.Lock(ctx, s.key)
		if err != nil {
			return err
		}
		defer unlock()
	}
	stored, err := s.store.Load(ctx, s.key)
	switch {
	case errors.Is(err, ErrTokenNotFound):
		// The delete went through; only the save is missing.
	case err != nil:
		return err
	case stored.AccessToken == replacing.AccessToken && stored.RefreshToken == replacing.RefreshToken:
		if err := s.store.Delete(ctx, s.key); err != nil {
			return err
		}
	}
	// Anything else stored is someone's newer token: the store's own rule
	// decides, and ErrSuperseded ends the retries.
	return s.store.Save(ctx, s.key, tok)
}

// retrySave keeps trying to persist tok after the quick retries failed, with
// backoff, until it is saved, superseded, no longer the current token, or
// the source is closed: then it tries once more and stops. Meanwhile it
// keeps hold's refresh lock (nil: the store has none), renewing it at
// every attempt, at least once per refresh timeout, and takes it again
// when it was lost (see retryHold.attempt).
func (s *TokenSource) retrySave(tok *oauth2.Token, stop <-chan struct{}, replacing *oauth2.Token, hold *retryHold) {
	defer hold.end(s, tok)
	d := s.o.minBackoff
	for {
		wait := d
		if hold != nil {
			wait = min(wait, s.o.timeout) // a lease's TTL is at least three refresh timeouts
		}
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		closing := false
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			closing = true
		}
		if st := s.cur.Load(); st == nil || st.tok != tok {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.o.timeout)
		err := hold.attempt(ctx, s, tok, func(locked bool) error { return s.retryOnce(ctx, tok, replacing, locked) })
		if errors.Is(err, errRetryReplaced) {
			cancel()
			return
		}
		err = scrubTokens(err, tok, replacing)
		cancel()
		switch {
		case errors.Is(err, ErrRevoked):
			s.o.logger.Warn("ucoauth: the grant was revoked meanwhile; dropping the refreshed token", "key", s.key)
			s.mu.Lock()
			if st := s.cur.Load(); st != nil && st.tok == tok {
				s.dropRevokedLocked(&StoreError{Op: "save", Key: s.key, Err: err})
			}
			s.mu.Unlock()
			return
		case err == nil || errors.Is(err, ErrSuperseded):
			s.o.logger.Info("ucoauth: saved refreshed token after retrying", "key", s.key)
			return
		case closing:
			s.o.logger.Error("ucoauth: closed before the refreshed token could be saved; it is lost with this source", "key", s.key, "err", err)
			return
		case !(&StoreError{Err: err}).Temporary():
			s.o.logger.Error("ucoauth: cannot save refreshed token, for good; keeping it in memory", "key", s.key, "err", err)
			return
		}
		s.o.logger.Error("ucoauth: still cannot save refreshed token; keeping it in memory", "key", s.key, "err", err)
		d = min(d, s.o.maxBackoff/2) * 2 // saturates: 2*d cannot overflow
	}
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

// Revoke revokes the merchant's grant at UltraCart (the access token, then,
// best effort, the refresh token: RFC 7009 token_type_hint=refresh_token)
// and replaces the stored token with a tombstone (see [Tombstoner]), so that
// no process holding the grant in memory can save it back; a store that
// keeps no tombstones has the key deleted instead. A token UltraCart already
// considers dead is buried all the same; any other failure is returned and
// the token is kept, so that the revoke can be tried again. A key with no
// token, or already revoked, is not an error.
func (s *TokenSource) Revoke(ctx context.Context) error {
	tok, err := s.TokenContext(ctx)
	gone := errors.Is(err, ErrReauthorizationRequired)
	switch {
	case errors.Is(err, ErrTokenNotFound):
		return nil
	case err != nil && !gone:
		return err
	}
	c, err := s.join(ctx) // no refresh may save behind our back
	if err != nil {
		return err
	}
	if err := s.revokeHeld(ctx, tok, gone); err != nil {
		s.mu.Lock()
		// Nothing changed: waiters get the current token, or the error
		// when there is none.
		cur, werr := s.cur.Load(), error(nil)
		if cur == nil {
			werr = err
		}
		s.endLocked(c, cur, werr)
		return err
	}
	s.mu.Lock()
	s.cur.Store(nil)
	s.update(func(h *health) { *h = health{closed: h.closed, bg: h.bg} })
	s.endLocked(c, nil, s.notFound())
	s.o.logger.Info("ucoauth: revoked", "key", s.key)
	return nil
}

// join waits until no flight runs, then starts one for the caller.
func (s *TokenSource) join(ctx context.Context) (*call, error) {
	for {
		s.mu.Lock()
		w := s.inflight
		if w == nil {
			c := s.beginLocked()
			s.mu.Unlock()
			return c, nil
		}
		s.mu.Unlock()
		select {
		case <-w.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("ucoauth: waiting to revoke %q: %w", s.key, ctx.Err())
		}
	}
}

func (s *TokenSource) revokeHeld(ctx context.Context, tok *oauth2.Token, gone bool) error {
	// A save of this source being retried holds the lock: borrow it, or
	// the revoke would wait for this very process.
	lk := s.borrow()
	if lk == nil {
		lease, err := lockLease(ctx, s.store, s.key)
		if err != nil {
			return &StoreError{Op: "lock", Key: s.key, Err: err}
		}
		if lease != nil {
			lk = &held{lease: lease}
		}
	}
	defer lk.release()
	if !gone {
		if st := s.cur.Load(); st != nil {
			tok = st.tok // a refresh may have finished meanwhile
		}
		if stored, err := s.store.Load(ctx, s.key); err == nil {
			tok = newest(tok, stored) // or another process's
		}
		if err := revoke(ctx, s.cfg, tok.AccessToken, s.o, tok.RefreshToken); err != nil && !tokenGone(err) {
			return err
		}
		s.revokeRefresh(ctx, tok)
	}
	return s.bury(ctx, tok)
}

// LogValue describes the source for log/slog without its secrets.
func (s *TokenSource) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("key", s.key)}
	if st := s.cur.Load(); st != nil {
		attrs = append(attrs, slog.Any("token", LogToken(st.tok)))
	}
	return slog.GroupValue(attrs...)
}

package ucoauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
// share it; it is safe for concurrent use. The zero value is not usable.
// The returned tokens are shared and must not be modified.
type TokenSource struct {
	*shared
	key string

	cur  atomic.Pointer[state]   // nil until loaded
	fail atomic.Pointer[failure] // nil while healthy
	busy atomic.Bool             // a flight is running: the stale path need not lock

	// A flight is the one load, refresh or revoke in progress; everyone
	// else waits for it. The struct stays at 64 bytes: a process may hold
	// 100,000 sources.
	mu       sync.Mutex
	inflight *call
}

// failure records refreshes that failed in a row.
type failure struct {
	err     error
	count   int
	nextTry int64 // unix nanos: no refresh starts before it
}

func (f *failure) backingOff(now int64) bool { return f != nil && now < f.nextTry }

// shared is what every source of a Manager has in common.
type shared struct {
	cfg   *oauth2.Config
	store TokenStore
	o     *options
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

// NewTokenSource returns a TokenSource for key in store, refreshing through
// cfg's token endpoint. It does no I/O: the token is loaded on first use.
func NewTokenSource(cfg *oauth2.Config, store TokenStore, key string, opts ...Option) *TokenSource {
	return newShared(cfg, store, opts).source(key)
}

func newShared(cfg *oauth2.Config, store TokenStore, opts []Option) *shared {
	if cfg == nil || store == nil {
		panic("ucoauth: a TokenSource needs a non-nil config and store")
	}
	sh := &shared{cfg: cfg, store: store, o: newOptions(opts)}
	if !sh.o.custom {
		startCoarseClock()
	}
	return sh
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
// willing to wait for a refresh. Cancelling it does not cancel the refresh.
func (s *TokenSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	// The hot path: two atomic loads and a compare. No lock, no clock read,
	// no allocation, no store I/O.
	if st := s.cur.Load(); st != nil && !s.o.custom && coarseNanos.Load() < st.stale {
		return st.tok, nil
	}
	return s.slow(ctx)
}

func (s *TokenSource) slow(ctx context.Context) (*oauth2.Token, error) {
	now := s.o.now().UnixNano()
	st := s.cur.Load()
	if st != nil && now < st.stale {
		return st.tok, nil // fresh by the precise clock
	}
	if st != nil && now < st.expire {
		// Stale but valid: serve it, and start a refresh unless one is
		// running or the last one failed too recently.
		if !s.busy.Load() && !s.fail.Load().backingOff(now) {
			s.mu.Lock()
			// Only if no refresh replaced st since we loaded it; otherwise
			// a fresh token would be refreshed again.
			if s.inflight == nil && s.cur.Load() == st {
				go s.run(s.beginLocked())
			}
			s.mu.Unlock()
		}
		return st.tok, nil
	}

	s.mu.Lock()
	if cur := s.cur.Load(); cur != st && cur != nil && now < cur.expire {
		s.mu.Unlock() // a flight finished while we were getting here
		return cur.tok, nil
	}
	c := s.inflight
	if c != nil {
		s.mu.Unlock()
		return s.wait(ctx, c, now)
	}
	if f := s.fail.Load(); f.backingOff(now) {
		s.mu.Unlock()
		return nil, f.err
	}
	c = s.beginLocked()
	s.mu.Unlock()
	if st == nil {
		if tok, done, err := s.firstLoad(c); done {
			return tok, err
		}
	}
	go s.run(c)
	return s.wait(ctx, c, now)
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
// for backoff.
func (s *TokenSource) finish(c *call, st *state, err error) {
	s.mu.Lock()
	if st != nil {
		s.cur.Store(st)
	}
	if err == nil || errors.Is(err, ErrTokenNotFound) {
		// A missing token costs UltraCart nothing and may appear any
		// moment (the merchant connects): no backoff.
		s.fail.Store(nil)
	} else {
		f := &failure{err: err, count: 1}
		if prev := s.fail.Load(); prev != nil {
			f.count = prev.count + 1
		}
		f.nextTry = s.o.now().Add(s.backoff(f.count, err)).UnixNano()
		s.fail.Store(f)
	}
	s.endLocked(c, st, err)
}

// firstLoad reads the store in the caller's goroutine: a cold start is one
// store read, and a goroutine of its own would cost more than the read. done
// is false when the stored token has expired and needs a refresh.
func (s *TokenSource) firstLoad(c *call) (tok *oauth2.Token, done bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.o.timeout)
	tok, err = s.store.Load(ctx, s.key)
	cancel()
	if err != nil {
		err = &StoreError{Op: "load", Key: s.key, Err: err}
		s.finish(c, nil, err)
		return nil, true, err
	}
	now := s.o.now()
	st := s.newState(tok, now)
	switch {
	case st.freshAt(now):
		s.finish(c, st, nil)
		return tok, true, nil
	case st.validAt(now):
		s.cur.Store(st) // serve it while the refresh runs
		go s.run(c)
		return tok, true, nil
	}
	return nil, false, nil
}

func (s *TokenSource) run(c *call) {
	// Detached from every caller: lock wait plus the request itself.
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.o.timeout)
	defer cancel()
	st, ev, err := s.refresh(ctx)
	s.finish(c, st, err)
	if ev != nil {
		// Reported once the token is live and the store's lock released,
		// so that a slow hook holds up nobody.
		s.report(*ev)
	}
}

// backoff is the wait after the n-th failure in a row: exponential with
// equal jitter, so a fleet that failed together does not retry together.
func (s *TokenSource) backoff(n int, err error) time.Duration {
	d := s.o.maxBackoff
	if !errors.Is(err, ErrReauthorizationRequired) && n < 32 {
		d = min(s.o.minBackoff<<(n-1), s.o.maxBackoff)
	}
	d = d/2 + rand.N(d/2+1)
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > d {
		d = e.RetryAfter
	}
	return d
}

// newState derives a token's deadlines from the lifetime it was granted
// (its ExpiresIn, or what remains when that is unknown). The early window is
// capped at half the lifetime and the expiry margin at a tenth of it, so that
// a short or unknown lifetime never causes a refresh loop. A token without an
// expiry (saved by hand) is served but refreshed at once, never trusted
// forever.
func (s *TokenSource) newState(tok *oauth2.Token, now time.Time) *state {
	if tok.Expiry.IsZero() {
		return newStateAt(tok, now, now.Add(FallbackLifetime))
	}
	remaining := tok.Expiry.Sub(now)
	if remaining <= 0 {
		return newStateAt(tok, tok.Expiry, tok.Expiry)
	}
	lifetime := time.Duration(tok.ExpiresIn) * time.Second
	if lifetime <= 0 {
		lifetime = remaining
	}
	margin := min(10*time.Second, lifetime/10)
	window := max(min(s.o.early, lifetime/2), margin)
	return newStateAt(tok, tok.Expiry.Add(-window), tok.Expiry.Add(-margin))
}

func newStateAt(tok *oauth2.Token, staleAt, expireAt time.Time) *state {
	return &state{tok: tok, stale: staleAt.UnixNano(), expire: expireAt.UnixNano()}
}

func (st *state) freshAt(now time.Time) bool { return now.UnixNano() < st.stale }
func (st *state) validAt(now time.Time) bool { return now.UnixNano() < st.expire }

// refresh brings the token up to date: it adopts a fresh token another
// process stored, or refreshes under the store's lock and saves the result
// before returning it. A non-nil state may come with an error; run installs
// it and still backs off. ev, when set, is the refresh to report.
func (s *TokenSource) refresh(ctx context.Context) (st *state, ev *RefreshEvent, err error) {
	var mem *oauth2.Token
	if cur := s.cur.Load(); cur != nil {
		if cur.freshAt(s.o.now()) {
			return cur, nil, nil // already fresh: never refresh a fresh token
		}
		mem = cur.tok
	}
	// Look before locking: another process may have refreshed already, and
	// a cold start of many merchants should not take a lock per merchant.
	stored, fresh, err := s.look(ctx, mem)
	if fresh != nil || err != nil {
		return fresh, nil, err
	}
	if l, ok := s.store.(Locker); ok {
		unlock, err := l.Lock(ctx, s.key)
		if err != nil {
			return nil, nil, &StoreError{Op: "lock", Key: s.key, Err: err}
		}
		defer unlock()
		// Under the lock, look again: the holder we waited for has saved.
		if stored, fresh, err = s.look(ctx, mem); fresh != nil || err != nil {
			return fresh, nil, err
		}
	}
	base := mem // refresh with the newest refresh token known
	if stored != nil && (base == nil || !stored.Expiry.Before(base.Expiry)) {
		base = stored
	}
	return s.refreshFrom(ctx, base)
}

// look reads the stored token. fresh is set when that token is news worth
// adopting: a different, fresh token, which another process saved.
func (s *TokenSource) look(ctx context.Context, mem *oauth2.Token) (stored *oauth2.Token, fresh *state, err error) {
	stored, err = s.store.Load(ctx, s.key)
	switch {
	case errors.Is(err, ErrTokenNotFound):
		if mem == nil {
			return nil, nil, s.notFound()
		}
		// The store lost the token (a Redis restart without persistence)
		// or another process deleted it. Go on from the copy in memory: it
		// may hold the only live refresh token, and a revoked grant will
		// fail its refresh with ErrReauthorizationRequired anyway.
		return nil, nil, nil
	case err != nil:
		return nil, nil, &StoreError{Op: "load", Key: s.key, Err: err}
	}
	// Only a different token is news; the one we hold is stale already.
	if mem == nil || (stored.AccessToken != mem.AccessToken && !stored.Expiry.Before(mem.Expiry)) {
		now := s.o.now()
		if st := s.newState(stored, now); st.freshAt(now) {
			return stored, st, nil
		}
	}
	return stored, nil, nil
}

// refreshFrom refreshes with base's refresh token and saves the result.
func (s *TokenSource) refreshFrom(ctx context.Context, base *oauth2.Token) (*state, *RefreshEvent, error) {
	now := s.o.now()
	if base.RefreshToken == "" {
		err := fmt.Errorf("%w: token %q has no refresh token", ErrReauthorizationRequired, s.key)
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
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {base.RefreshToken}}
	tok, err := retrieveToken(rctx, s.cfg, form, s.o.simpleKey, s.o.now, base.RefreshToken)
	took := s.o.now().Sub(now)
	if tok == nil {
		return nil, &RefreshEvent{Key: s.key, Err: err, Duration: took}, err
	}
	warn := err // ErrBadExpiresIn: keep the token, say so
	if tok.RefreshToken == "" {
		tok.RefreshToken = base.RefreshToken // not rotated: the old one lives on
	}
	if scopeOf(tok) == "" {
		tok = withScope(tok, scopeOf(base))
	}

	// Saved before it is handed out, so no process can be left holding a
	// refresh token the store has never seen.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.timeout)
	defer scancel()
	if err := s.save(sctx, tok); err != nil {
		if errors.Is(err, ErrSuperseded) {
			// A newer token won the race; use it instead of ours.
			if _, fresh, _ := s.look(sctx, nil); fresh != nil {
				return fresh, &RefreshEvent{Key: s.key, Token: tok, Err: err, Duration: took}, nil
			}
		}
		warn = errors.Join(warn, err)
		go s.retrySave(tok)
	}
	return s.newState(tok, s.o.now()), &RefreshEvent{Key: s.key, Token: tok, Err: warn, Duration: took}, nil
}

// save tries a few times quickly, because a store blip must not cost the
// refresh token that UltraCart just rotated.
func (s *TokenSource) save(ctx context.Context, tok *oauth2.Token) error {
	var err error
	for i := range 3 {
		if err = s.store.Save(ctx, s.key, tok); err == nil || errors.Is(err, ErrSuperseded) {
			return err
		}
		select {
		case <-ctx.Done():
			return &StoreError{Op: "save", Key: s.key, Err: err}
		case <-time.After(time.Duration(50<<i) * time.Millisecond):
		}
	}
	return &StoreError{Op: "save", Key: s.key, Err: err}
}

// retrySave keeps trying to persist tok after the quick retries failed, with
// backoff, until it is saved, superseded, or no longer the current token.
func (s *TokenSource) retrySave(tok *oauth2.Token) {
	d := s.o.minBackoff
	for {
		time.Sleep(d/2 + rand.N(d/2+1))
		if st := s.cur.Load(); st == nil || st.tok != tok {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.o.timeout)
		err := s.store.Save(ctx, s.key, tok)
		cancel()
		if err == nil || errors.Is(err, ErrSuperseded) {
			s.o.logger.Info("ucoauth: saved refreshed token after retrying", "key", s.key)
			return
		}
		s.o.logger.Error("ucoauth: still cannot save refreshed token; keeping it in memory", "key", s.key, "err", err)
		d = min(2*d, s.o.maxBackoff)
	}
}

func (s *TokenSource) report(e RefreshEvent) {
	switch {
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

// Revoke revokes the merchant's grant at UltraCart and deletes the token from
// the store. A token UltraCart already considers dead is deleted all the
// same; any other failure is returned and the token is kept, so that the
// revoke can be tried again. A key with no token is not an error.
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
	s.fail.Store(nil)
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
	if l, ok := s.store.(Locker); ok {
		unlock, err := l.Lock(ctx, s.key)
		if err != nil {
			return &StoreError{Op: "lock", Key: s.key, Err: err}
		}
		defer unlock()
	}
	if !gone {
		if st := s.cur.Load(); st != nil {
			tok = st.tok // a refresh may have finished meanwhile
		}
		if err := revoke(ctx, s.cfg, tok.AccessToken, s.o); err != nil && !tokenGone(err) {
			return err
		}
	}
	if err := s.store.Delete(ctx, s.key); err != nil {
		return &StoreError{Op: "delete", Key: s.key, Err: err}
	}
	return nil
}

// LogValue describes the source for log/slog without its secrets.
func (s *TokenSource) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("key", s.key)}
	if st := s.cur.Load(); st != nil {
		attrs = append(attrs, slog.Any("token", LogToken(st.tok)))
	}
	return slog.GroupValue(attrs...)
}

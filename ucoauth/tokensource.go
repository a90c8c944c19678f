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
// lock, store I/O or allocation. Inside the early-refresh window it is stale:
// still served, while one background refresh replaces it. Once expired it is
// invalid: callers wait for that one refresh, or for their own context.
//
// Create one TokenSource per key and share it; it is safe for concurrent use.
// The returned tokens are shared and must not be modified.
type TokenSource struct {
	cfg   *oauth2.Config
	store TokenStore
	key   string
	o     *options

	cur     atomic.Pointer[state] // nil until loaded
	nextTry atomic.Int64          // unix nanos; no refresh starts before it
	busy    atomic.Bool           // a refresh is running: the stale path need not lock

	mu       sync.Mutex // guards inflight, failures, lastErr
	inflight *call
	failures int
	lastErr  error

	opMu sync.Mutex // serializes refreshes with Revoke
}

// state is a token with its derived deadlines, computed once when installed
// so that the hot path only compares.
type state struct {
	tok        *oauth2.Token
	staleAt    time.Time // from here on, refresh in the background
	expireAt   time.Time // from here on, do not serve
	staleNanos int64     // staleAt for the hot path
}

type call struct {
	done chan struct{}
	st   *state
	err  error
}

// NewTokenSource returns a TokenSource for key in store, refreshing through
// cfg's token endpoint. It does no I/O: the token is loaded on first use.
func NewTokenSource(cfg *oauth2.Config, store TokenStore, key string, opts ...Option) *TokenSource {
	return newTokenSource(cfg, store, key, newOptions(opts))
}

func newTokenSource(cfg *oauth2.Config, store TokenStore, key string, o *options) *TokenSource {
	if cfg == nil || store == nil {
		panic("ucoauth: NewTokenSource needs a non-nil config and store")
	}
	if !o.custom {
		startCoarseClock()
	}
	return &TokenSource{cfg: cfg, store: store, key: key, o: o}
}

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
	if st := s.cur.Load(); st != nil && !s.o.custom && coarseNanos.Load() < st.staleNanos {
		return st.tok, nil
	}
	return s.slow(ctx)
}

func (s *TokenSource) slow(ctx context.Context) (*oauth2.Token, error) {
	now := s.o.now()
	st := s.cur.Load()
	if st != nil && now.Before(st.staleAt) {
		return st.tok, nil // fresh by the precise clock
	}
	if st != nil && now.Before(st.expireAt) {
		// Stale but valid: serve it, and start a refresh unless one is
		// running or the last one failed too recently.
		if !s.busy.Load() && now.UnixNano() >= s.nextTry.Load() {
			s.mu.Lock()
			// Only if no refresh replaced st since we loaded it; otherwise
			// a fresh token would be refreshed again.
			if s.inflight == nil && s.cur.Load() == st {
				s.startLocked()
			}
			s.mu.Unlock()
		}
		return st.tok, nil
	}

	s.mu.Lock()
	if cur := s.cur.Load(); cur != st && cur != nil && now.Before(cur.expireAt) {
		s.mu.Unlock() // a refresh finished while we were getting here
		return cur.tok, nil
	}
	c := s.inflight
	if c == nil {
		if now.UnixNano() < s.nextTry.Load() && s.lastErr != nil {
			err := s.lastErr
			s.mu.Unlock()
			return nil, err
		}
		c = s.startLocked()
	}
	s.mu.Unlock()

	select {
	case <-c.done:
		if c.err != nil && (c.st == nil || !now.Before(c.st.expireAt)) {
			return nil, c.err
		}
		return c.st.tok, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("ucoauth: waiting for token %q: %w", s.key, ctx.Err())
	}
}

// startLocked starts the single refresh. s.mu must be held.
func (s *TokenSource) startLocked() *call {
	c := &call{done: make(chan struct{})}
	s.inflight = c
	s.busy.Store(true)
	go s.run(c)
	return c
}

func (s *TokenSource) run(c *call) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	// Detached from every caller: lock wait plus the request itself.
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.o.timeout)
	defer cancel()

	st, err := s.refresh(ctx)

	s.mu.Lock()
	if st != nil {
		s.cur.Store(st)
	}
	if err == nil {
		s.failures, s.lastErr = 0, nil
		s.nextTry.Store(0)
	} else {
		s.failures++
		s.lastErr = err
		s.nextTry.Store(s.o.now().Add(s.backoff(err)).UnixNano())
	}
	s.inflight = nil
	s.busy.Store(false)
	c.st, c.err = st, err
	s.mu.Unlock()
	close(c.done)
}

// backoff is the wait after the s.failures-th failure in a row: exponential
// with equal jitter, so a fleet that failed together does not retry together.
func (s *TokenSource) backoff(err error) time.Duration {
	d := s.o.maxBackoff
	if !errors.Is(err, ErrReauthorizationRequired) && s.failures < 32 {
		d = min(s.o.minBackoff<<(s.failures-1), s.o.maxBackoff)
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
	return &state{tok: tok, staleAt: staleAt, expireAt: expireAt, staleNanos: staleAt.UnixNano()}
}

// refresh brings the token up to date: it adopts a fresh token another
// process stored, or refreshes under the store's lock and saves the result
// before returning it. A non-nil state may come with an error; run installs
// it and still backs off.
func (s *TokenSource) refresh(ctx context.Context) (*state, error) {
	var mem *oauth2.Token
	if st := s.cur.Load(); st != nil {
		if s.o.now().Before(st.staleAt) {
			return st, nil // already fresh: never refresh a fresh token
		}
		mem = st.tok
	}
	// Look before locking: another process may have refreshed already, and
	// a cold start of many merchants should not take a lock per merchant.
	if st, ok, err := s.adopt(ctx, mem); ok || err != nil {
		return st, err
	}
	if l, ok := s.store.(Locker); ok {
		unlock, err := l.Lock(ctx, s.key)
		if err != nil {
			return nil, &StoreError{Op: "lock", Key: s.key, Err: err}
		}
		defer unlock()
		// Under the lock, look again: the holder we waited for has saved.
		if st, ok, err := s.adopt(ctx, mem); ok || err != nil {
			return st, err
		}
	}
	return s.refreshLocked(ctx, mem)
}

// adopt loads the stored token and returns it when it is fresh. ok is false
// when a refresh is needed.
func (s *TokenSource) adopt(ctx context.Context, mem *oauth2.Token) (*state, bool, error) {
	stored, err := s.store.Load(ctx, s.key)
	switch {
	case errors.Is(err, ErrTokenNotFound):
		if mem == nil {
			return nil, false, &StoreError{Op: "load", Key: s.key, Err: err}
		}
		// The store lost the token (a Redis restart without persistence)
		// or another process deleted it. Go on from the copy in memory: it
		// may hold the only live refresh token, and a revoked grant will
		// fail its refresh with ErrReauthorizationRequired anyway.
		stored = nil
	case err != nil:
		return nil, false, &StoreError{Op: "load", Key: s.key, Err: err}
	}
	now := s.o.now()
	// Only a different token is news; the one we hold is stale already.
	if stored != nil && (mem == nil || (stored.AccessToken != mem.AccessToken && !stored.Expiry.Before(mem.Expiry))) {
		if st := s.newState(stored, now); now.Before(st.staleAt) {
			return st, true, nil
		}
	}
	return nil, false, nil
}

// refreshLocked refreshes with the newest refresh token known, from the
// store or from memory, and saves the result.
func (s *TokenSource) refreshLocked(ctx context.Context, mem *oauth2.Token) (*state, error) {
	base := mem
	if stored, err := s.store.Load(ctx, s.key); err == nil && (base == nil || !stored.Expiry.Before(base.Expiry)) {
		base = stored
	} else if err != nil && !errors.Is(err, ErrTokenNotFound) {
		return nil, &StoreError{Op: "load", Key: s.key, Err: err}
	}
	if base == nil {
		return nil, &StoreError{Op: "load", Key: s.key, Err: ErrTokenNotFound}
	}
	now := s.o.now()
	if base.RefreshToken == "" {
		err := fmt.Errorf("%w: token %q has no refresh token", ErrReauthorizationRequired, s.key)
		if st := s.newState(base, now); now.Before(st.expireAt) {
			return st, err // serve it while it lasts
		}
		return nil, err
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
		s.report(RefreshEvent{Key: s.key, Err: err, Duration: took})
		return nil, err
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
			if st, ok, lerr := s.adopt(sctx, nil); ok {
				return st, lerr
			}
		}
		warn = errors.Join(warn, err)
		go s.retrySave(tok)
	}
	s.report(RefreshEvent{Key: s.key, Token: tok, Err: warn, Duration: took})
	return s.newState(tok, s.o.now()), nil
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

	s.opMu.Lock() // no refresh may save behind our back
	defer s.opMu.Unlock()
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
		if err := revoke(ctx, s.cfg, tok.AccessToken, s.o.simpleKey); err != nil && !tokenGone(err) {
			return err
		}
	}
	if err := s.store.Delete(ctx, s.key); err != nil {
		return &StoreError{Op: "delete", Key: s.key, Err: err}
	}
	s.mu.Lock()
	s.cur.Store(nil)
	s.failures, s.lastErr = 0, nil
	s.nextTry.Store(0)
	s.mu.Unlock()
	s.o.logger.Info("ucoauth: revoked", "key", s.key)
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

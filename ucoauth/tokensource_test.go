package ucoauth_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// clock is time.Now moved by a skew that tests advance; the fake server and
// the source share it, so no test sleeps through a token's lifetime.
type clock struct{ skew atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.skew.Load())) }
func (c *clock) Advance(d time.Duration) { c.skew.Add(int64(d)) }

// store wraps a real store, counting calls and letting a test fail or hold
// Save. It passes Lock through.
type store struct {
	ucoauth.TokenStore
	loads, saves atomic.Int32
	mu           sync.Mutex
	failSaves    int
	onSave       func(*oauth2.Token)
}

func (s *store) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	s.loads.Add(1)
	return s.TokenStore.Load(ctx, key)
}

func (s *store) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	s.saves.Add(1)
	s.mu.Lock()
	fail, hook := s.failSaves > 0, s.onSave
	if fail {
		s.failSaves--
	}
	s.mu.Unlock()
	if hook != nil {
		hook(tok)
	}
	if fail {
		return errors.New("store is down")
	}
	return s.TokenStore.Save(ctx, key, tok)
}

func (s *store) Lock(ctx context.Context, key string) (func(), error) {
	return s.TokenStore.(ucoauth.Locker).Lock(ctx, key)
}

type fixture struct {
	srv   *ucoauthtest.Server
	clock *clock
	store *store
	cfg   *oauth2.Config
	tok   *oauth2.Token // the token first saved
}

func newFixture(t *testing.T, lifetime time.Duration) *fixture {
	t.Helper()
	srv := ucoauthtest.NewServer()
	t.Cleanup(srv.Close)
	f := &fixture{srv: srv, clock: &clock{}, store: &store{TokenStore: tokenstore.NewMemory()}, cfg: srv.Config()}
	srv.SetClock(f.clock.Now)
	srv.SetLifetime(lifetime)
	f.tok = srv.Issue("DEMO", ucoauth.ScopeOrderRead)
	require.NoError(t, f.store.Save(t.Context(), "m", f.tok))
	f.store.saves.Store(0)
	return f
}

// loaded returns a source that has loaded the stored token.
func (f *fixture) loaded(t *testing.T, opts ...ucoauth.Option) *ucoauth.TokenSource {
	t.Helper()
	src := f.source(opts...)
	_, err := src.Token()
	require.NoError(t, err, "precondition: the stored token loads")
	return src
}

func (f *fixture) source(opts ...ucoauth.Option) *ucoauth.TokenSource {
	return ucoauth.NewTokenSource(f.cfg, f.store, "m", append([]ucoauth.Option{ucoauth.WithClock(f.clock.Now)}, opts...)...)
}

func TestHotPathHasNoStoreIOAndNoAllocation(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.source()
	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, f.tok.AccessToken, tok.AccessToken, "loaded from the store on first use")
	loads := f.store.loads.Load()

	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := src.Token(); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "Token() on a fresh token allocates")
	assert.Equal(t, loads, f.store.loads.Load(), "Token() on a fresh token touched the store")
	assert.Zero(t, f.srv.Stats().Refreshes())
}

func TestBackgroundRefreshInsideEarlyWindow(t *testing.T) {
	f := newFixture(t, time.Hour)
	events := make(chan ucoauth.RefreshEvent, 4)
	src := f.loaded(t, ucoauth.WithEarlyRefresh(5*time.Minute), ucoauth.WithRefreshHook(func(e ucoauth.RefreshEvent) { events <- e }))

	f.srv.SetLatency(500 * time.Millisecond)
	f.clock.Advance(56 * time.Minute) // inside the 5-minute window, still valid
	for range 50 {
		tok, err := src.Token()
		require.NoError(t, err)
		require.Equal(t, f.tok.AccessToken, tok.AccessToken, "the still-valid token is served during the refresh")
	}
	select {
	case e := <-events:
		t.Fatalf("the refresh finished before the latency elapsed: %+v", e)
	default:
	}
	e := <-events
	require.NoError(t, e.Err)
	assert.Equal(t, "m", e.Key)
	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, e.Token.AccessToken, tok.AccessToken)
	assert.NotEqual(t, f.tok.AccessToken, tok.AccessToken)
	assert.Equal(t, 1, f.srv.Stats().Refreshes(), "one refresh however many callers saw the stale token")
	assert.Equal(t, "order_read", tok.Extra("scope"), "scope survives the refresh")
}

func TestStampedeAtExpiryMakesOneRefresh(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t)
	f.srv.SetLatency(100 * time.Millisecond)
	f.clock.Advance(2 * time.Hour)

	const n = 500
	start := make(chan struct{})
	got := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			tok, err := src.Token()
			if assert.NoError(t, err) {
				got <- tok.AccessToken
			}
		})
	}
	close(start)
	wg.Wait()
	close(got)
	seen := map[string]int{}
	for at := range got {
		seen[at]++
	}
	assert.Equal(t, 1, f.srv.Stats().Refreshes(), "500 goroutines at expiry must make one refresh")
	require.Len(t, seen, 1, "every caller gets the same new token")
	for at, c := range seen {
		assert.NotEqual(t, f.tok.AccessToken, at, "an expired token was served")
		assert.Equal(t, n, c)
	}
}

func TestWaitingCallerHonoursItsContextWithoutCancellingTheRefresh(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t)
	f.srv.SetLatency(400 * time.Millisecond)
	f.clock.Advance(2 * time.Hour)

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := src.TokenContext(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	tok, err := src.Token() // joins the refresh the first caller started
	require.NoError(t, err)
	assert.NotEqual(t, f.tok.AccessToken, tok.AccessToken)
	assert.Equal(t, 1, f.srv.Stats().Refreshes(), "the abandoned caller's refresh went on and was reused")
	stored, err := f.store.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, stored.AccessToken)
}

func TestNewTokenIsSavedBeforeItIsHandedOut(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t)
	f.clock.Advance(2 * time.Hour)

	var handedOut atomic.Int32
	var seenAtSave atomic.Int32
	seenAtSave.Store(-1)
	f.store.mu.Lock()
	f.store.onSave = func(*oauth2.Token) {
		time.Sleep(50 * time.Millisecond) // give waiters every chance to run early
		seenAtSave.Store(handedOut.Load())
	}
	f.store.mu.Unlock()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := src.Token()
			assert.NoError(t, err)
			handedOut.Add(1)
		})
	}
	wg.Wait()
	assert.Equal(t, int32(0), seenAtSave.Load(), "a caller got the new token before it was saved")
	assert.Equal(t, int32(20), handedOut.Load())
}

func TestRotationOffKeepsTheOldRefreshToken(t *testing.T) {
	f := newFixture(t, time.Hour)
	f.srv.SetRotation(false)
	src := f.source()
	f.clock.Advance(2 * time.Hour)
	tok, err := src.Token()
	require.NoError(t, err)
	assert.NotEqual(t, f.tok.AccessToken, tok.AccessToken)
	assert.Equal(t, f.tok.RefreshToken, tok.RefreshToken, "no refresh token in the answer: keep the old one")
	stored, err := f.store.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, f.tok.RefreshToken, stored.RefreshToken)

	f.clock.Advance(2 * time.Hour) // and the kept one still works
	_, err = src.Token()
	require.NoError(t, err)
	assert.Equal(t, 2, f.srv.Stats().Refreshes())
}

func TestUnusableLifetimeNeverLoopsNorLivesForever(t *testing.T) {
	for _, format := range []string{`"0"`, `"-5"`,
		`""`, `"abc"`, ``} {
		f := newFixture(t, time.Hour)
		f.srv.SetExpiresIn(format)
		var events []ucoauth.RefreshEvent
		var mu sync.Mutex
		src := f.source(ucoauth.WithRefreshHook(func(e ucoauth.RefreshEvent) { mu.Lock(); events = append(events, e); mu.Unlock() }))
		f.clock.Advance(2 * time.Hour)
		tok, err := src.Token()
		require.NoError(t, err)
		assert.NotEqual(t, f.tok.AccessToken, tok.AccessToken)
		for range 1000 {
			_, err := src.Token()
			require.NoError(t, err)
		}
		assert.Equal(t, 1, f.srv.Stats().Refreshes(), "no refresh loop")

		f.clock.Advance(ucoauth.FallbackLifetime) // no token lives forever
		tok2, err := src.Token()
		require.NoError(t, err)
		assert.NotEqual(t, tok.AccessToken, tok2.AccessToken)
		assert.Equal(t, 2, f.srv.Stats().Refreshes())
		require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(events) == 2 }, 5*time.Second, time.Millisecond)
		mu.Lock()
		if format == `"abc"` {
			assert.ErrorIs(t, events[0].Err, ucoauth.ErrBadExpiresIn, "garbage is reported, and the token kept")
			assert.NotNil(t, events[0].Token)
		}
		mu.Unlock()
	}
}

func TestFailuresBackOffAndKeepServingTheValidToken(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t, ucoauth.WithEarlyRefresh(10*time.Minute), ucoauth.WithBackoff(time.Second, time.Minute))
	f.srv.FailNext(-1, ucoauthtest.Failure{Status: 500, Body: "<html>down</html>"})

	f.clock.Advance(51 * time.Minute) // stale, valid for 9 more minutes
	for i := range 600 {              // 6 simulated minutes of calls, every 0.6 s
		tok, err := src.Token()
		require.NoError(t, err)
		require.Equal(t, f.tok.AccessToken, tok.AccessToken, "the still-valid token is served while refreshes fail")
		f.clock.Advance(600 * time.Millisecond)
		if i%50 == 0 {
			time.Sleep(5 * time.Millisecond) // let the background refresh finish
		}
	}
	waitIdle(t, f)
	n := f.srv.Stats().Refreshes()
	assert.GreaterOrEqual(t, n, 3, "refreshes are retried")
	assert.LessOrEqual(t, n, 12, "1000 calls must not become 1000 requests: backoff")

	f.clock.Advance(10 * time.Minute) // expired now: callers get the error, fast
	_, err := src.Token()
	var e *ucoauth.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, 500, e.StatusCode)
	assert.True(t, e.Temporary())

	f.srv.ClearFailures()
	f.clock.Advance(2 * time.Minute) // past any backoff
	tok, err := src.Token()
	require.NoError(t, err, "recovers once UltraCart does")
	assert.NotEqual(t, f.tok.AccessToken, tok.AccessToken)
}

// waitIdle waits until the server has seen no new refresh for a moment.
func waitIdle(t *testing.T, f *fixture) {
	t.Helper()
	last := -1
	require.Eventually(t, func() bool {
		n := f.srv.Stats().Refreshes()
		ok := n == last
		last = n
		return ok
	}, 5*time.Second, 50*time.Millisecond)
}

func TestRetryAfterIsHonoured(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.source(ucoauth.WithBackoff(time.Second, time.Second))
	f.srv.FailNext(1, ucoauthtest.Failure{Status: 429, Header: http.Header{"Retry-After": {"120"}}, Body: ucoauthtest.ErrorResponse("slow down", "rate_limit")})
	f.clock.Advance(2 * time.Hour)
	_, err := src.Token()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "slow down")
	for range 100 {
		f.clock.Advance(time.Second) // 100 s < 120 s
		_, err = src.Token()
		require.Error(t, err)
	}
	assert.Equal(t, 1, f.srv.Stats().Refreshes(), "no request before Retry-After")
	f.clock.Advance(30 * time.Second)
	_, err = src.Token()
	require.NoError(t, err)
	assert.Equal(t, 2, f.srv.Stats().Refreshes())
}

func TestDeadGrantNeedsReauthorization(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.source()
	f.srv.FailNext(1, ucoauthtest.Failure{Status: 400, Body: `{"error":"invalid_grant","error_description":"revoked"}`})
	f.clock.Advance(2 * time.Hour)
	_, err := src.Token()
	require.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	var e *ucoauth.Error
	require.ErrorAs(t, err, &e)
	assert.False(t, e.Temporary())

	_, err = ucoauth.NewTokenSource(f.cfg, tokenstore.NewMemory(), "never-connected").Token()
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
}

func TestStoreFailureAfterRefreshKeepsTheNewToken(t *testing.T) {
	f := newFixture(t, time.Hour)
	events := make(chan ucoauth.RefreshEvent, 1)
	src := f.source(ucoauth.WithBackoff(20*time.Millisecond, 50*time.Millisecond),
		ucoauth.WithRefreshHook(func(e ucoauth.RefreshEvent) { events <- e }))
	f.store.mu.Lock()
	f.store.failSaves = 5 // the quick retries fail, then the background ones succeed
	f.store.mu.Unlock()
	f.clock.Advance(2 * time.Hour)

	tok, err := src.Token()
	require.NoError(t, err, "a valid new token is served even though saving it failed")
	e := <-events
	var se *ucoauth.StoreError
	require.ErrorAs(t, e.Err, &se, "the failure is reported")
	assert.Equal(t, "save", se.Op)
	assert.Equal(t, tok.AccessToken, e.Token.AccessToken)

	require.Eventually(t, func() bool {
		stored, err := f.store.TokenStore.Load(t.Context(), "m")
		return err == nil && stored.RefreshToken == tok.RefreshToken
	}, 10*time.Second, 10*time.Millisecond, "the rotated refresh token must reach the store")
	assert.Equal(t, 1, f.srv.Stats().Refreshes())
	assert.Zero(t, f.srv.Stats().InvalidGrant)
}

func TestStoreOutageKeepsServingTheCachedToken(t *testing.T) {
	f := newFixture(t, time.Hour)
	down := &downStore{}
	down.up.Store(true)
	down.TokenStore = f.store
	src := ucoauth.NewTokenSource(f.cfg, down, "m", ucoauth.WithClock(f.clock.Now))
	_, err := src.Token()
	require.NoError(t, err)
	down.up.Store(false)
	for range 100 {
		tok, err := src.Token()
		require.NoError(t, err)
		assert.Equal(t, f.tok.AccessToken, tok.AccessToken)
	}
	f.clock.Advance(2 * time.Hour)
	_, err = src.Token()
	var se *ucoauth.StoreError
	require.ErrorAs(t, err, &se, "an expired token and a dead store: a typed error")
	assert.True(t, se.Temporary())
	assert.Zero(t, f.srv.Stats().Refreshes(), "no lock, no refresh")
}

type downStore struct {
	ucoauth.TokenStore
	up atomic.Bool
}

func (d *downStore) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	if !d.up.Load() {
		return nil, errors.New("connection refused")
	}
	return d.TokenStore.Load(ctx, key)
}

func TestTwoSourcesSharingAStoreRefreshOnce(t *testing.T) {
	f := newFixture(t, time.Hour)
	f.srv.SetLatency(50 * time.Millisecond)
	a, b := f.source(), f.source()
	_, err := a.Token()
	require.NoError(t, err)
	_, err = b.Token()
	require.NoError(t, err)
	f.clock.Advance(2 * time.Hour)
	var wg sync.WaitGroup
	toks := make([]string, 2)
	for i, s := range []*ucoauth.TokenSource{a, b} {
		wg.Go(func() {
			tok, err := s.Token()
			if assert.NoError(t, err) {
				toks[i] = tok.AccessToken
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, f.srv.Stats().Refreshes(), "the second source reloads under the lock and adopts")
	assert.Zero(t, f.srv.Stats().InvalidGrant)
	assert.Equal(t, toks[0], toks[1])
}

func TestRevoke(t *testing.T) {
	t.Run("revokes and deletes", func(t *testing.T) {
		f := newFixture(t, time.Hour)
		src := f.source(ucoauth.WithSimpleKey("sk-1"))
		require.NoError(t, src.Revoke(t.Context()))
		assert.Equal(t, 1, f.srv.Stats().Revoke)
		assert.Equal(t, "sk-1", f.srv.Stats().LastSimpleKey)
		_, err := f.store.Load(t.Context(), "m")
		assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
		_, err = src.Token()
		assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound, "the source forgets the token")
		assert.NoError(t, src.Revoke(t.Context()), "revoking twice is a no-op")
	})
	t.Run("already gone is deleted", func(t *testing.T) {
		f := newFixture(t, time.Hour)
		f.srv.FailNext(1, ucoauthtest.Failure{Path: "/oauth/revoke", Status: 401, Body: ucoauthtest.ErrorResponse("unknown token", "invalid_token")})
		require.NoError(t, f.source().Revoke(t.Context()))
		_, err := f.store.Load(t.Context(), "m")
		assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
	})
	t.Run("other failures keep the token", func(t *testing.T) {
		for _, fail := range []ucoauthtest.Failure{
			{Path: "/oauth/revoke", Status: 500, Body: "oops"},
			{Path: "/oauth/revoke", Status: 200, Body: `{"successful": false, "message": "try later"}`},
		} {
			f := newFixture(t, time.Hour)
			f.srv.FailNext(1, fail)
			err := f.source().Revoke(t.Context())
			require.Error(t, err)
			_, err = f.store.Load(t.Context(), "m")
			assert.NoError(t, err, "the token is kept so the revoke can be retried")
		}
	})
}

func TestRefreshHookAndLoggerKeepSecrets(t *testing.T) {
	f := newFixture(t, time.Hour)
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	events := make(chan ucoauth.RefreshEvent, 2)
	src := f.source(ucoauth.WithLogger(logger), ucoauth.WithRefreshHook(func(e ucoauth.RefreshEvent) { events <- e }))
	f.clock.Advance(2 * time.Hour)
	tok, err := src.Token()
	require.NoError(t, err)
	e := <-events
	assert.Equal(t, "m", e.Key)
	assert.Equal(t, tok.AccessToken, e.Token.AccessToken)

	f.srv.FailNext(1, ucoauthtest.Failure{Status: 400, Body: `{"error":"invalid_grant"}`})
	f.clock.Advance(2 * time.Hour)
	_, err = src.Token()
	require.Error(t, err)
	failed := <-events // reported, and so logged, once the flight is over
	assert.Nil(t, failed.Token)
	assert.ErrorIs(t, failed.Err, ucoauth.ErrReauthorizationRequired)

	logger.Info("source", "src", src)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	assert.Contains(t, out, "refreshed")
	assert.Contains(t, out, "refresh failed")
	assert.Contains(t, out, ucoauth.Fingerprint(tok.AccessToken), "tokens are logged as fingerprints")
	printed := out + fmt.Sprintf("%v %+v %#v %s %v", src, src, e, src, err)
	for _, secret := range []string{f.tok.AccessToken, f.tok.RefreshToken, tok.AccessToken, tok.RefreshToken, f.cfg.ClientSecret} {
		assert.NotContains(t, printed, secret)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestFingerprintTellsTokensApart(t *testing.T) {
	assert.NotEqual(t, ucoauth.Fingerprint("a"), ucoauth.Fingerprint("b"))
	assert.Equal(t, ucoauth.Fingerprint("a"), ucoauth.Fingerprint("a"))
	assert.Empty(t, ucoauth.Fingerprint(""))
}

func TestManagerSharesOneSourcePerKey(t *testing.T) {
	f := newFixture(t, time.Hour)
	m := ucoauth.NewManager(f.cfg, f.store, ucoauth.WithClock(f.clock.Now))
	assert.Same(t, m.Source("m"), m.Source("m"))
	assert.NotSame(t, m.Source("m"), m.Source("other"))
	f.clock.Advance(2 * time.Hour)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := m.Source("m").Token()
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, 1, f.srv.Stats().Refreshes())
	old := m.Source("m")
	m.Forget("m")
	assert.NotSame(t, old, m.Source("m"))
}

func TestNewClientAuthorizesRequests(t *testing.T) {
	f := newFixture(t, time.Hour)
	client := ucoauth.NewClient(t.Context(), f.source())
	resp, err := client.Get(f.srv.BaseURL() + "/order/orders")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the fake API checks Bearer and X-UltraCart-Api-Version")

	// Without the version header UltraCart refuses: prove the fake checks it.
	req, _ := http.NewRequest(http.MethodGet, f.srv.BaseURL()+"/order/orders", nil)
	f.tok.SetAuthHeader(req)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	// A plain x/oauth2 source works too, given the API's origin.
	client = &http.Client{Transport: &ucoauth.Transport{Source: oauth2.StaticTokenSource(f.tok), Origin: f.srv.URL}}
	resp, err = client.Get(f.srv.BaseURL() + "/item/items")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestNeverRefreshesAFreshToken: callers that saw the stale token while a
// refresh was finishing must not start a second refresh of the new one.
func TestNeverRefreshesAFreshToken(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.source(ucoauth.WithEarlyRefresh(5 * time.Minute))
	tok, err := src.Token()
	require.NoError(t, err)
	const windows = 20
	for w := range windows {
		f.clock.Advance(56 * time.Minute) // into the stale window of the current token
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 300 {
					_, err := src.Token()
					assert.NoError(t, err)
				}
			})
		}
		wg.Wait()
		require.Eventually(t, func() bool {
			next, err := src.Token()
			return err == nil && next.AccessToken != tok.AccessToken
		}, 5*time.Second, time.Millisecond, "window %d never refreshed", w)
		tok, _ = src.Token()
		waitIdle(t, f)
	}
	assert.Equal(t, windows, f.srv.Stats().Refreshes(), "one refresh per window, never one of a fresh token")
}

// TestDefaultClockNoticesStaleness runs on real time, without WithClock, so
// that the hot path's coarse clock decides: a one-second token must still be
// refreshed in the background once it is stale, and served allocation-free
// while fresh.
func TestDefaultClockNoticesStaleness(t *testing.T) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetLifetime(2 * time.Second) // MinLifetime
	store := tokenstore.NewMemory()
	tok := srv.Issue("DEMO")
	require.NoError(t, store.Save(t.Context(), "m", tok))
	src := ucoauth.NewTokenSource(srv.Config(), store, "m")
	defer src.Close()
	_, err := src.Token()
	require.NoError(t, err)
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = src.Token() }), "the coarse-clock hot path allocates")

	require.Eventually(t, func() bool {
		next, err := src.Token()
		return err == nil && next.AccessToken != tok.AccessToken
	}, 10*time.Second, time.Millisecond, "a stale token was never refreshed on the default clock")
	assert.Equal(t, 1, srv.Stats().Refreshes())
}

// TestMerchantConnectingLaterIsPickedUp: a missing token does not back off,
// so a merchant that connects while the app is asking is served at once.
func TestMerchantConnectingLaterIsPickedUp(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := ucoauth.NewTokenSource(f.cfg, f.store, "later", ucoauth.WithClock(f.clock.Now))
	for range 5 {
		_, err := src.Token()
		require.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
	}
	tok := f.srv.Issue("LATER")
	require.NoError(t, f.store.Save(t.Context(), "later", tok))
	got, err := src.Token()
	require.NoError(t, err, "the new connection is seen on the next call")
	assert.Equal(t, tok.AccessToken, got.AccessToken)
}

// TestRefreshHookSeesTheLiveToken: when the hook runs, the source already
// serves the new token and the store's lock is free.
func TestRefreshHookSeesTheLiveToken(t *testing.T) {
	f := newFixture(t, time.Hour)
	var src *ucoauth.TokenSource
	checked := make(chan error, 1)
	src = f.source(ucoauth.WithRefreshHook(func(e ucoauth.RefreshEvent) {
		got, err := src.Token()
		if err == nil && got.AccessToken != e.Token.AccessToken {
			err = fmt.Errorf("hook ran before the new token was served")
		}
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			var unlock func()
			if unlock, err = f.store.Lock(ctx, "m"); err == nil {
				unlock()
			}
		}
		checked <- err
	}))
	f.clock.Advance(2 * time.Hour)
	_, err := src.Token()
	require.NoError(t, err)
	assert.NoError(t, <-checked)
}

func TestStoreErrorTemporary(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	assert.True(t, (&ucoauth.StoreError{Op: "lock", Err: fmt.Errorf("redis: %w", refused)}).Temporary(), "a store that is down is an outage")
	assert.True(t, (&ucoauth.StoreError{Op: "load", Err: context.DeadlineExceeded}).Temporary())
	assert.False(t, (&ucoauth.StoreError{Op: "load", Err: ucoauth.ErrTokenNotFound}).Temporary())
	assert.False(t, (&ucoauth.StoreError{Op: "load", Err: fmt.Errorf("x: %w", tokenstore.ErrCorrupt)}).Temporary(), "a corrupt record will not heal")
	assert.Contains(t, (&ucoauth.StoreError{Op: "load", Key: "m\n1", Err: refused}).Error(), `"m\n1"`, "keys are quoted, so a hostile key cannot forge log lines")
}

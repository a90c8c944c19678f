package redisstore_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
	"golang.org/x/oauth2"
)

// Two processes' sources (A and B, each with its own Redis client) on one
// Redis that restarts empty, and a fake UltraCart that rotates refresh
// tokens, on a clock the test moves: the two interleavings that the
// Redis-restart fleet met (TestRedisFleetSurvivesRedisRestart, issue 16),
// step by step. Both fail without ucoauth/lost.go's wait.

// restartPair is the shared setup: A and B both hold the seeded token.
type restartPair struct {
	rs    *redistest.Server
	srv   *ucoauthtest.Server
	store *redisstore.Store // the test's own view
	skew  atomic.Int64
	a, b  *ucoauth.TokenSource
	seed  *oauth2.Token
}

func newRestartPair(t *testing.T, aClient *http.Client) *restartPair {
	p := &restartPair{rs: redistest.Start(t), srv: ucoauthtest.NewServer()}
	t.Cleanup(p.srv.Close)
	now := func() time.Time { return time.Now().Add(time.Duration(p.skew.Load())) }
	p.srv.SetClock(now)
	p.srv.SetRotation(true)
	p.store = redisstore.New(p.rs.TestClient(t))
	p.seed = p.srv.Issue("DEMO")
	require.NoError(t, p.store.Save(t.Context(), "DEMO", p.seed))
	source := func(hc *http.Client) *ucoauth.TokenSource {
		c := redis.NewClient(&redis.Options{Addr: p.rs.Addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
		// A's save retries come 0.5 to 1 s apart: B looks first. B's wait
		// for newer copies (min(timeout, max backoff)) is 2 s.
		opts := []ucoauth.Option{ucoauth.WithClock(now), ucoauth.WithRefreshTimeout(5 * time.Second),
			ucoauth.WithBackoff(50*time.Millisecond, 2*time.Second)}
		if hc != nil {
			opts = append(opts, ucoauth.WithHTTPClient(hc), ucoauth.WithBackoff(time.Second, time.Second))
		}
		src := ucoauth.NewTokenSource(p.srv.Config(), redisstore.New(c), "DEMO", opts...)
		t.Cleanup(func() { src.Close(); c.Close() })
		return src
	}
	p.a, p.b = source(aClient), source(nil)
	for _, src := range []*ucoauth.TokenSource{p.a, p.b} {
		tok, err := src.Token()
		require.NoError(t, err)
		require.Equal(t, p.seed.AccessToken, tok.AccessToken, "precondition: both hold the seeded token")
	}
	return p
}

// expire moves the clock past every token issued so far.
func (p *restartPair) expire() { p.skew.Add(int64(2 * ucoauthtest.DefaultLifetime)) }

// killEmpty kills Redis so that it restarts empty: a real one loses its
// data; miniredis, which keeps it, is flushed first.
func killEmpty(t *testing.T, rs *redistest.Server) {
	if !rs.Real {
		c := rs.Client()
		defer c.Close()
		assert.NoError(t, c.FlushAll(t.Context()).Err())
	}
	rs.Kill()
}

// killAfterAnswer is A's HTTP transport: it kills Redis once UltraCart has
// answered a token request, before A can save the rotated token.
type killAfterAnswer struct {
	t     *testing.T
	rs    *redistest.Server
	armed atomic.Bool
	next  http.Transport // its own: TestMain checks that no connection outlives the tests
}

func (k *killAfterAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := k.next.RoundTrip(r)
	if k.armed.CompareAndSwap(true, false) {
		killEmpty(k.t, k.rs)
	}
	return resp, err
}

// TestRedisRestartWaitsForTheUnsavedRotatedToken: A refreshes, and Redis
// dies before A's save; it comes back empty. B, holding the token A's
// refresh rotated away, must not refresh from it before A's retried save
// lands: it waits, under the lock, and refreshes from A's token.
func TestRedisRestartWaitsForTheUnsavedRotatedToken(t *testing.T) {
	kill := &killAfterAnswer{t: t}
	t.Cleanup(kill.next.CloseIdleConnections)
	p := newRestartPair(t, &http.Client{Transport: kill})
	kill.rs = p.rs
	p.expire()
	kill.armed.Store(true)
	tokA, err := p.a.Token() // 1. A rotates the seed's refresh token; its save fails
	require.NoError(t, err, "A serves the refreshed token from memory")
	require.False(t, kill.armed.Load(), "precondition: Redis was killed after UltraCart answered")
	require.NotEqual(t, p.seed.RefreshToken, tokA.RefreshToken)

	require.NoError(t, p.rs.Restart()) // 2. the store lost everything: A's retry has not saved yet
	p.expire()                         // 3. B needs a refresh, and holds only the seed's dead refresh token
	tokB, err := p.b.Token()
	require.NoError(t, err, "B refreshed from A's token, not from the rotated-away one")
	assert.Zero(t, p.srv.Stats().InvalidGrant, "no refresh token was presented twice")
	assert.NotEqual(t, tokA.AccessToken, tokB.AccessToken)
	stored, err := p.store.Load(t.Context(), "DEMO")
	require.NoError(t, err)
	assert.Equal(t, tokB.AccessToken, stored.AccessToken, "B's refreshed token is the stored one")
}

// TestRedisRestartRefreshesFromTheNewestCopy: A refreshes and saves; B
// never looked, and still holds the seeded token when Redis restarts empty.
// B refreshes first: it writes its copy back and waits; A, looking
// meanwhile, finds an older copy stored and writes its own over it; B then
// refreshes from A's, not from its own rotated-away one.
func TestRedisRestartRefreshesFromTheNewestCopy(t *testing.T) {
	p := newRestartPair(t, nil)
	p.expire()
	tokA, err := p.a.Token() // 1. A rotates the seed's refresh token, and saves
	require.NoError(t, err)
	require.NotEqual(t, p.seed.RefreshToken, tokA.RefreshToken)

	killEmpty(t, p.rs)
	require.NoError(t, p.rs.Restart()) // 2. the store lost A's token; B still holds the seed
	p.expire()                         // 3. both need a refresh
	type result struct {
		tok *oauth2.Token
		err error
	}
	bDone := make(chan result, 1)
	go func() {
		tok, err := p.b.Token()
		bDone <- result{tok, err}
	}()
	// 4. B writes the seed back, and waits under the lock (a B that
	// refreshes from the seed at once is done instead).
	var b result
	require.Eventually(t, func() bool {
		select {
		case b = <-bDone:
			return true
		default:
		}
		stored, err := p.store.Load(t.Context(), "DEMO")
		return err == nil && stored.AccessToken == p.seed.AccessToken
	}, 10*time.Second, 5*time.Millisecond, "B neither wrote its copy back nor refreshed")
	// 5. A finds an older copy stored: it writes its own over it, then
	// waits for B's refresh.
	tokA2, errA := p.a.Token()
	if b.tok == nil && b.err == nil {
		b = <-bDone
	}
	require.NoError(t, b.err, "B refreshed from A's token, not from the rotated-away one")
	require.NoError(t, errA)
	assert.Zero(t, p.srv.Stats().InvalidGrant, "no refresh token was presented twice")
	assert.Equal(t, b.tok.AccessToken, tokA2.AccessToken, "A adopted B's refresh")
	stored, err := p.store.Load(t.Context(), "DEMO")
	require.NoError(t, err)
	assert.Equal(t, b.tok.AccessToken, stored.AccessToken)
}

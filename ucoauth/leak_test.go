package ucoauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// Nothing the library starts outlives its owner: not the coarse clock, not a
// refresh, not a retried save. No ignore options.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// failingSaves is a store whose saves always fail, as an outage would.
type failingSaves struct{ ucoauth.TokenStore }

func (failingSaves) Save(context.Context, string, *oauth2.Token) error {
	return errors.New("store is down")
}

// libraryGoroutines counts goroutines running the library's code.
func libraryGoroutines() int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "ucoauth.(*TokenSource)") || strings.Contains(g, "ucoauth.(*Manager)") {
			n++
		}
	}
	return n
}

// TestForgetStopsBackgroundWork: with a store whose saves fail, each
// refresh leaves a save being retried in the background. Forget stops it,
// and Close stops what a Manager and a lone source started.
func TestForgetStopsBackgroundWork(t *testing.T) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetRotation(false) // the unsaved tokens' refresh tokens stay usable
	mem := tokenstore.NewMemory()
	const n = 100
	for i := range n {
		require.NoError(t, mem.Save(t.Context(), fmt.Sprint("m", i), srv.Issue("DEMO")))
	}
	clk := &clock{}
	m := ucoauth.NewManager(srv.Config(), failingSaves{mem}, ucoauth.WithClock(clk.Now), ucoauth.WithBackoff(time.Hour, time.Hour))
	clk.Advance(2 * time.Hour)
	srv.SetClock(clk.Now)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := m.Source(fmt.Sprint("m", i)).Token()
			assert.NoError(t, err, "served though its save failed")
		})
	}
	wg.Wait()
	require.Equal(t, n, srv.Stats().Refreshes())
	require.GreaterOrEqual(t, libraryGoroutines(), n, "precondition: the saves are being retried")

	for i := range n {
		m.Forget(fmt.Sprint("m", i))
	}
	// A stopped goroutine may still be unwinding its last frame right after
	// it signalled that it is done: allow it that moment.
	assert.Eventually(t, func() bool { return libraryGoroutines() == 0 }, 2*time.Second, time.Millisecond,
		"Forget left background work running")
	assert.Zero(t, m.Len())

	// Close does the same for every source a Manager holds.
	for i := range 10 {
		wg.Go(func() {
			_, err := m.Source(fmt.Sprint("m", i)).Token()
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	require.Positive(t, libraryGoroutines())
	require.NoError(t, m.Close())
	assert.Eventually(t, func() bool { return libraryGoroutines() == 0 }, 2*time.Second, time.Millisecond,
		"Close left background work running")
	_, err := m.Source("m1").Token()
	assert.ErrorIs(t, err, ucoauth.ErrClosed, "a closed Manager hands out closed sources")
}

// TestClosedSourceServesItsTokenThenErrClosed: Close stops background
// work; the valid token is still served, and past it ErrClosed.
func TestClosedSourceServesItsTokenThenErrClosed(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t)
	require.NoError(t, src.Close())
	require.NoError(t, src.Close(), "twice is fine")
	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, f.tok.AccessToken, tok.AccessToken)
	f.clock.Advance(56 * time.Minute) // stale: no background refresh starts
	_, err = src.Token()
	require.NoError(t, err)
	f.clock.Advance(time.Hour)
	_, err = src.Token()
	assert.ErrorIs(t, err, ucoauth.ErrClosed)
	assert.Zero(t, f.srv.Stats().Refreshes())
}

// TestEvictionStopsBackgroundWork: an idle source the Manager drops has its
// background work (here, saves being retried) stopped too.
func TestEvictionStopsBackgroundWork(t *testing.T) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetRotation(false)
	mem := tokenstore.NewMemory()
	clk := &clock{}
	srv.SetClock(clk.Now)
	for i := range 5 {
		require.NoError(t, mem.Save(t.Context(), fmt.Sprint("m", i), srv.Issue("DEMO")))
	}
	m := ucoauth.NewManager(srv.Config(), failingSaves{mem}, ucoauth.WithClock(clk.Now),
		ucoauth.WithBackoff(time.Hour, time.Hour), ucoauth.WithIdleTimeout(time.Minute))
	defer m.Close()
	clk.Advance(2 * time.Hour)
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			_, err := m.Source(fmt.Sprint("m", i)).Token()
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	require.Positive(t, libraryGoroutines(), "precondition: the saves are being retried")

	clk.Advance(2 * time.Minute)
	for i := range 1000 {
		m.Source(fmt.Sprint("new", i)) // sweeps every shard
	}
	for i := range 5 {
		assert.NotContains(t, m.Keys(), fmt.Sprint("m", i), "evicted")
	}
	require.Eventually(t, func() bool { return libraryGoroutines() == 0 }, 10*time.Second, 10*time.Millisecond,
		"an evicted source's background work kept running")
}

// TestCoarseClockStopsWhenIdle: the hot path's clock runs on a lease, so
// nothing is left running once sources are idle, and it restarts on demand.
func TestCoarseClockStopsWhenIdle(t *testing.T) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	store := tokenstore.NewMemory()
	tok := srv.Issue("DEMO")
	require.NoError(t, store.Save(t.Context(), "m", tok))
	src := ucoauth.NewTokenSource(srv.Config(), store, "m") // the real clock
	defer src.Close()
	_, err := src.Token()
	require.NoError(t, err)
	require.Equal(t, 1, goroutinesIn("ucoauth.coarseRun"), "precondition: the coarse clock runs")
	require.Eventually(t, func() bool { return goroutinesIn("ucoauth.coarseRun") == 0 }, 10*time.Second, 10*time.Millisecond,
		"the coarse clock outlived its use")
	for range 1000 {
		got, err := src.Token()
		require.NoError(t, err)
		require.Equal(t, tok.AccessToken, got.AccessToken)
	}
	assert.Equal(t, 1, goroutinesIn("ucoauth.coarseRun"), "restarted on demand, once")
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = src.Token() }))
}

func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

// TestCloseLetsARefreshInFlightSave: Close during a refresh waits for it,
// and the rotated token it got reaches the store: cutting it short could
// lose the merchant's only live refresh token.
func TestCloseLetsARefreshInFlightSave(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t)
	f.srv.SetLatency(300 * time.Millisecond)
	f.clock.Advance(56 * time.Minute) // stale: a background refresh starts
	tok, err := src.Token()
	require.NoError(t, err)
	require.Equal(t, f.tok.AccessToken, tok.AccessToken, "precondition: the stale token is served")
	require.Equal(t, ucoauth.StateStale, src.Status().State)
	require.NoError(t, src.Close())
	assert.Equal(t, 1, f.srv.Stats().Refreshes(), "the refresh in flight went through")
	stored, err := f.store.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.NotEqual(t, f.tok.AccessToken, stored.AccessToken, "Close returned before the refreshed token was saved")
	assert.NotEqual(t, f.tok.RefreshToken, stored.RefreshToken, "the rotated refresh token reached the store")
	assert.Eventually(t, func() bool { return libraryGoroutines() == 0 }, 2*time.Second, time.Millisecond)
}

// TestUsersNeedNoGoleakIgnoreList: a user's test that runs
// goleak.VerifyNone, with no option, right after using a Manager on the
// real clock (the coarse clock, a refresh, a 401 recovery, a retried save)
// and closing it, finds nothing.
func TestUsersNeedNoGoleakIgnoreList(t *testing.T) {
	srv := ucoauthtest.NewServer()
	mem := tokenstore.NewMemory()
	require.NoError(t, mem.Save(t.Context(), "a", srv.Issue("DEMO")))
	require.NoError(t, mem.Save(t.Context(), "b", srv.Issue("DEMO")))
	stale := srv.Issue("DEMO")
	stale.Expiry = time.Now().Add(-time.Minute) // a refresh at first use
	require.NoError(t, mem.Save(t.Context(), "c", stale))
	m := ucoauth.NewManager(srv.Config(), failingSaves{mem}, ucoauth.WithBackoff(time.Hour, time.Hour))
	api := srv.BaseURL() + "/order/orders"
	code, err := get(t, m.Client(t.Context(), "a"), api)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	tok, err := m.Source("b").Token()
	require.NoError(t, err)
	require.True(t, srv.RejectToken(tok.AccessToken))
	code, err = get(t, m.Client(t.Context(), "b"), api)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "401 recovery")
	_, err = m.Source("c").Token()
	require.NoError(t, err, "refreshed; its save is being retried")
	require.Positive(t, libraryGoroutines(), "precondition: background work runs")
	require.Equal(t, 1, goroutinesIn("ucoauth.coarseRun"), "precondition: the coarse clock runs")

	require.NoError(t, m.Close())
	srv.Close()
	goleak.VerifyNone(t)
}

// TestCloseDuringARefreshWhoseSaveFailsSaysTheTokenIsLost: Close while a
// refresh is in flight, and the store refuses its save. No retry starts on
// the closed source, and the log says plainly, at error level, that the
// rotated token is lost with it, as it does for a retry that Close ended.
func TestCloseDuringARefreshWhoseSaveFailsSaysTheTokenIsLost(t *testing.T) {
	f := newFixture(t, time.Hour)
	var logs logBuffer
	src := ucoauth.NewTokenSource(f.cfg, failingSaves{f.store}, "m", ucoauth.WithClock(f.clock.Now), ucoauth.WithLogger(logs.logger()))
	_, err := src.Token()
	require.NoError(t, err)
	f.srv.SetLatency(300 * time.Millisecond)
	f.clock.Advance(56 * time.Minute) // stale: a background refresh starts
	_, err = src.Token()
	require.NoError(t, err)
	require.NoError(t, src.Close())
	require.Equal(t, 1, f.srv.Stats().Refreshes(), "precondition: the refresh went through")
	assert.Equal(t, 1, logs.count("ERROR", "it is lost with this source"), logs.String())
	assert.Eventually(t, func() bool { return libraryGoroutines() == 0 }, 2*time.Second, time.Millisecond)
}

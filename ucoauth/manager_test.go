package ucoauth_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// TestManagerEvictsIdleSources: a process fed arbitrary merchant IDs does
// not grow forever. Sources not asked for during the idle timeout are
// dropped by sweeps amortised over Source calls.
func TestManagerEvictsIdleSources(t *testing.T) {
	f := newFixture(t, time.Hour)
	m := ucoauth.NewManager(f.cfg, f.store, ucoauth.WithClock(f.clock.Now), ucoauth.WithIdleTimeout(time.Minute))
	defer m.Close()
	kept := m.Source("m")
	const perRound = 1000
	for round := range 20 {
		for i := range perRound {
			m.Source(fmt.Sprintf("r%d-%d", round, i))
		}
		m.Source("m") // asked for every round: never idle
		f.clock.Advance(20 * time.Second)
		assert.LessOrEqual(t, m.Len(), 6*perRound, "round %d: the manager keeps growing", round)
	}
	assert.Same(t, kept, m.Source("m"), "a source in use is kept")
	keys := m.Keys()
	assert.Equal(t, len(keys), m.Len())
	assert.False(t, slices.Contains(keys, "r0-0"), "an idle source was kept")
	assert.True(t, slices.IsSorted(keys))
	assert.Equal(t, ucoauth.StateNotLoaded, m.Status("r0-0").State, "Status creates no source")
	assert.False(t, slices.Contains(m.Keys(), "r0-0"))
}

// TestManagerClientRevokeAndClose: Client survives eviction and Forget;
// Revoke revokes and forgets; Close stops everything.
func TestManagerClientRevokeAndClose(t *testing.T) {
	f := newFixture(t, time.Hour)
	m := ucoauth.NewManager(f.cfg, f.store, ucoauth.WithClock(f.clock.Now), ucoauth.WithIdleTimeout(time.Minute))
	client := m.Client(t.Context(), "m")
	api := f.srv.BaseURL() + "/order/orders"
	code, err := get(t, client, api)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, 1, m.Len())

	m.Forget("m")
	assert.Zero(t, m.Len())
	code, err = get(t, client, api)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code, "the client asks the manager again")

	f.clock.Advance(2 * time.Minute)
	for i := range 1000 {
		m.Source(fmt.Sprint("other", i)) // sweeps every shard
	}
	assert.False(t, slices.Contains(m.Keys(), "m"), "precondition: evicted")
	code, err = get(t, client, api)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code, "the client survives eviction")

	require.NoError(t, m.Revoke(t.Context(), "m"))
	assert.Equal(t, 1, f.srv.Stats().Revoke)
	assert.False(t, slices.Contains(m.Keys(), "m"), "revoked and forgotten")
	_, err = f.store.Load(t.Context(), "m")
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
	_, err = get(t, client, api)
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound)

	require.NoError(t, m.Close())
	assert.Zero(t, m.Len())
	assert.Equal(t, ucoauth.StateClosed, m.Source("x").Status().State)
}

// TestStatusStates walks one merchant through every state Status reports,
// and checks that a Status prints no secret, whatever prints it.
func TestStatusStates(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.source(ucoauth.WithEarlyRefresh(5 * time.Minute))
	defer src.Close()
	assert.Equal(t, ucoauth.StateNotLoaded, src.Status().State)

	_, err := src.Token()
	require.NoError(t, err)
	st := src.Status()
	assert.Equal(t, ucoauth.StateFresh, st.State)
	assert.Equal(t, "m", st.Key)
	assert.Equal(t, ucoauth.Fingerprint(f.tok.AccessToken), st.Token)
	assert.True(t, st.Expiry.Equal(f.tok.Expiry))
	assert.True(t, st.Refreshed.IsZero(), "loaded, not refreshed")

	f.clock.Advance(56 * time.Minute)
	assert.Equal(t, ucoauth.StateStale, src.Status().State)
	f.clock.Advance(10 * time.Minute)
	assert.Equal(t, ucoauth.StateExpired, src.Status().State)

	_, err = src.Token()
	require.NoError(t, err)
	st = src.Status()
	assert.Equal(t, ucoauth.StateFresh, st.State)
	assert.False(t, st.Refreshed.IsZero(), "refreshed just now")

	f.srv.FailNext(1, ucoauthtest.Failure{Status: 503, Body: "busy"})
	f.clock.Advance(2 * time.Hour)
	_, err = src.Token()
	require.Error(t, err)
	st = src.Status()
	assert.Equal(t, ucoauth.StateBackingOff, st.State)
	assert.Equal(t, 1, st.Failures)
	assert.Error(t, st.Err)
	assert.True(t, st.NextAttempt.After(f.clock.Now()))

	f.srv.FailNext(1, failInvalidGrant)
	f.clock.Advance(time.Hour)
	_, err = src.Token()
	require.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	st = src.Status()
	assert.Equal(t, ucoauth.StateReauthorizationRequired, st.State)

	printed := fmt.Sprintf("%v %+v %#v %s", st, st, st, st.State)
	js, err := json.Marshal(st)
	require.NoError(t, err)
	var logs logBuffer
	logs.logger().Info("status", "status", st)
	slog.New(slog.NewTextHandler(&lockedWriter{w: &logs.buf, mu: &logs.mu}, nil)).Info("status", "status", st)
	printed += string(js) + logs.String()
	tok, _ := f.store.Load(t.Context(), "m")
	for _, secret := range []string{f.tok.AccessToken, f.tok.RefreshToken, tok.AccessToken, tok.RefreshToken, f.cfg.ClientSecret} {
		assert.NotContains(t, printed, secret)
	}
	assert.Contains(t, printed, "reauthorization required")

	missing := ucoauth.NewTokenSource(f.cfg, f.store, "nobody", ucoauth.WithClock(f.clock.Now))
	_, err = missing.Token()
	require.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
	assert.Equal(t, ucoauth.StateNotFound, missing.Status().State)

	require.NoError(t, src.Close())
	assert.Equal(t, ucoauth.StateClosed, src.Status().State)
}

// TestStatusRacesRefreshes: Status and Manager.Status read while callers
// refresh, invalidate and evict, under -race. Every snapshot is coherent: a
// fresh or stale state has a token and an expiry, a failure has an error.
func TestStatusRacesRefreshes(t *testing.T) {
	f := newFixture(t, time.Hour)
	m := ucoauth.NewManager(f.cfg, f.store, ucoauth.WithClock(f.clock.Now), ucoauth.WithIdleTimeout(time.Minute))
	defer m.Close()
	f.srv.SetLatency(time.Millisecond)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, st := range []ucoauth.Status{m.Status("m"), m.Source("m").Status()} {
					switch st.State {
					case ucoauth.StateFresh, ucoauth.StateStale:
						assert.NotEmpty(t, st.Token)
						assert.False(t, st.Expiry.IsZero())
					case ucoauth.StateBackingOff, ucoauth.StateReauthorizationRequired, ucoauth.StateInvalidClient:
						assert.Error(t, st.Err)
					}
				}
			}
		})
	}
	for i := range 200 {
		src := m.Source("m")
		tok, err := src.Token()
		if err == nil && i%3 == 0 {
			ucoauth.Invalidate(src, tok) // as a 401 would
		}
		f.clock.Advance(20 * time.Second) // through stale, expired, evicted
	}
	close(stop)
	wg.Wait()
	assert.Positive(t, f.srv.Stats().Refreshes())
}

package redisstore_test

import (
	"net/http"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/fleet"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/square/squaretest"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// Environment of the child processes of TestSquarePKCEFleetOnRedis.
const (
	envSquareFleetRedis = "UCOAUTH_SQUARE_FLEET_REDIS"
	envSquareFleetURL   = "UCOAUTH_SQUARE_FLEET_URL"
	envSquareFleetFor   = "UCOAUTH_SQUARE_FLEET_FOR"
)

// Square's tokens in the fleet: they live 3 s (expires_at has whole
// seconds, so 2 to 3 s as the engine reads them) and are refreshed in
// their last second.
const (
	squareFleetLifetime = 3 * time.Second
	squareFleetEarly    = time.Second
)

// TestSquarePKCEFleetOnRedis runs 4 OS processes over one Redis, each with
// its own TokenSource on the Square provider, against the fake Square with
// a PKCE grant: every refresh spends the refresh token and answers a new
// one. No spent refresh token is ever presented (squaretest counts them),
// no refresh is refused, the refreshes are one per token window, and every
// process ends on the stored token, with the merchant's ID kept.
func TestSquarePKCEFleetOnRedis(t *testing.T) {
	if addr := os.Getenv(envSquareFleetRedis); addr != "" {
		squareFleetChild(t, addr)
		return
	}
	rs := redistest.Start(t)
	store := redisstore.New(rs.TestClient(t))
	sq := squaretest.NewServer()
	defer sq.Close()
	sq.SetLifetime(squareFleetLifetime)
	first := sq.IssuePKCE("M-FLEET")
	require.NoError(t, store.Save(t.Context(), "DEMO", first))

	const procs, runFor = 4, 6 * time.Second
	env := []string{envSquareFleetRedis + "=" + rs.Addr, envSquareFleetURL + "=" + sq.URL, envSquareFleetFor + "=" + runFor.String()}
	reports := fleet.Spawn(t, "TestSquarePKCEFleetOnRedis", procs, env, "SQFLEET", sq, nil)

	st := sq.Stats()
	t.Logf("redis %s; refreshes %d, invalid_grant %d, reused %d; reports %+v", rs, st.Refreshes(), st.InvalidGrant, st.Reused, reports)
	require.GreaterOrEqual(t, st.Refreshes(), 3, "precondition: the run spans several token lifetimes")
	assert.Zero(t, st.Reused, "a spent PKCE refresh token was presented")
	assert.Zero(t, st.InvalidGrant)
	// One refresh per window: a token lives at least 2 s as the engine
	// reads it and turns stale 1 s before its expiry, so two refreshes of
	// the fleet are about a second apart; two processes refreshing the
	// same token would be milliseconds apart.
	times := st.RefreshTimes
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	for i := 1; i < len(times); i++ {
		assert.GreaterOrEqual(t, times[i].Sub(times[i-1]), 500*time.Millisecond, "refreshes %d and %d in one window", i-1, i)
	}
	// At most one per second of the run, and one more for the settled
	// token Spawn makes the processes converge on.
	assert.LessOrEqual(t, st.Refreshes(), int(runFor/time.Second)+2)

	stored, err := store.Load(t.Context(), "DEMO")
	require.NoError(t, err)
	assert.NotEqual(t, first.RefreshToken, stored.RefreshToken, "rotated")
	assert.Equal(t, "M-FLEET", square.MerchantID(stored), "the merchant's ID is kept through the refreshes")
	for i, r := range reports {
		assert.Equal(t, ucoauth.Fingerprint(stored.AccessToken), r.Final, "process %d ends on the stored token", i)
		assert.Zero(t, r.Dead, "process %d was told to reconnect", i)
		assert.Zero(t, r.Errs, "process %d had failed calls", i)
		assert.Positive(t, r.Calls, "process %d did not run", i)
	}
}

// squareFleetChild is one process of the fleet: a PKCE (public) client,
// with no client secret, on the shared Redis.
func squareFleetChild(t *testing.T, addr string) {
	runFor, err := time.ParseDuration(os.Getenv(envSquareFleetFor))
	require.NoError(t, err)
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	store := redisstore.New(rc)
	cfg := square.NewConfig(squaretest.DefaultClientID, "", squaretest.DefaultRedirectURL)
	cfg.Endpoint = square.EndpointAt(os.Getenv(envSquareFleetURL))
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer hc.CloseIdleConnections()
	src := ucoauth.NewTokenSource(cfg, store, "DEMO", ucoauth.WithProvider(square.Provider{}),
		ucoauth.WithEarlyRefresh(squareFleetEarly), ucoauth.WithHTTPClient(hc),
		ucoauth.WithBackoff(50*time.Millisecond, 300*time.Millisecond), ucoauth.WithRefreshTimeout(2*time.Second))
	defer src.Close()
	fleet.Ready(src)
	fleet.Child(t, "SQFLEET", src, store, "DEMO", time.Now().Add(runFor))
}

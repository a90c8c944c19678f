package ucoauth_test

import (
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ucoauth/go-ucoauth/internal/fleet"
	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/square/squaretest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// Environment of the child processes of TestSquarePKCEFleetRefreshesOncePerWindow.
const (
	envSquareFleetDir = "UCOAUTH_SQUARE_FLEET_DIR"
	envSquareFleetURL = "UCOAUTH_SQUARE_FLEET_URL"
	envSquareFleetFor = "UCOAUTH_SQUARE_FLEET_FOR"
)

// Square's tokens in the fleet: they live 3 s (expires_at has whole
// seconds, so 2 to 3 s as the engine reads them) and are refreshed in their
// last second.
const (
	squareFleetLifetime = 3 * time.Second
	squareFleetEarly    = time.Second
)

// TestSquarePKCEFleetRefreshesOncePerWindow runs 4 OS processes over one
// file store, each with its own TokenSource on the Square provider, against
// the fake Square with a PKCE grant: every refresh spends the refresh token
// and answers a new one. The engine's one refresh per fleet and its
// compare-and-set must hold as for UltraCart: no spent refresh token is
// ever presented (squaretest counts them), the refreshes are one per
// token window, and every process ends on the stored token.
func TestSquarePKCEFleetRefreshesOncePerWindow(t *testing.T) {
	if dir := os.Getenv(envSquareFleetDir); dir != "" {
		squareFleetChild(t, dir)
		return
	}
	sq := squaretest.NewServer()
	defer sq.Close()
	sq.SetLifetime(squareFleetLifetime)
	dir := filepath.Join(t.TempDir(), "tokens")
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	first := sq.IssuePKCE("M-FLEET")
	require.NoError(t, store.Save(t.Context(), "DEMO", first))

	const procs, runFor = 4, 6 * time.Second
	env := []string{envSquareFleetDir + "=" + dir, envSquareFleetURL + "=" + sq.URL, envSquareFleetFor + "=" + runFor.String()}
	reports := fleet.Spawn(t, "TestSquarePKCEFleetRefreshesOncePerWindow", procs, env, "SQFLEET", sq, nil)

	st := sq.Stats()
	t.Logf("refreshes %d, invalid_grant %d, reused %d; reports %+v", st.Refreshes(), st.InvalidGrant, st.Reused, reports)
	require.GreaterOrEqual(t, st.Refreshes(), 3, "precondition: the run spans several token lifetimes")
	assert.Zero(t, st.Reused, "a spent PKCE refresh token was presented")
	assert.Zero(t, st.InvalidGrant)
	// One refresh per window: a token lives at least 2 s as the engine
	// reads it, and turns stale 1 s before its expiry, so two refreshes
	// of the fleet are at least about a second apart. Two processes
	// refreshing the same token would be milliseconds apart.
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
	assert.Equal(t, "M-FLEET", stored.Extra(square.ExtraMerchantID), "the merchant's ID is kept through the refreshes")
	for i, r := range reports {
		assert.Equal(t, ucoauth.Fingerprint(stored.AccessToken), r.Final, "process %d ends on the stored token", i)
		assert.Zero(t, r.Dead, "process %d was told to reconnect", i)
		assert.Zero(t, r.Errs, "process %d had failed calls", i)
		assert.Positive(t, r.Calls, "process %d did not run", i)
	}
}

// squareFleetChild is one process of the fleet: a PKCE (public) client,
// with no client secret, on the shared file store.
func squareFleetChild(t *testing.T, dir string) {
	runFor, err := time.ParseDuration(os.Getenv(envSquareFleetFor))
	require.NoError(t, err)
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
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

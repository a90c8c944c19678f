package redisstore_test

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/fleet"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// The sealed fleet runs the same scenario as TestRedisFleetRefreshesOncePerWindow
// with every process's Redis store wrapped in tokenstore.Seal. It has its own
// parent, on the one fleet.Spawn and fleet.Child.
const (
	envSealFleetRedis = "UCOAUTH_SEAL_FLEET_REDIS"
	envSealFleetBase  = "UCOAUTH_SEAL_FLEET_BASE"
	envSealFleetFor   = "UCOAUTH_SEAL_FLEET_FOR"
	envSealFleetKeys  = "UCOAUTH_SEAL_FLEET_KEYS"
	sealFleetLifetime = 2 * time.Second
	sealFleetEarly    = 500 * time.Millisecond
)

func sealFleetSecret(t *testing.T) string {
	b := make([]byte, tokenstore.SealKeySize)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(b)
}

func openSealedRedis(t *testing.T, c redis.UniversalClient, keys string) ucoauth.TokenStore {
	parsed, err := tokenstore.ParseSealKeys(keys)
	require.NoError(t, err)
	s, err := tokenstore.Seal(redisstore.New(c), parsed[0], parsed[1:]...)
	require.NoError(t, err)
	return s
}

// TestSealedRedisFleetRefreshesOncePerWindow: 8 OS processes share one Redis
// through tokenstore.Seal, across at least 3 token lifetimes with rotation
// on. The merchant's record starts sealed with k1; the fleet runs with k2 as
// primary and k1 as older (a rotation in progress). One refresh per window,
// no invalid_grant, every process converges, and Redis never holds a token
// in clear.
func TestSealedRedisFleetRefreshesOncePerWindow(t *testing.T) {
	if os.Getenv(envSealFleetRedis) != "" {
		sealFleetChild(t)
		return
	}
	rs := redistest.Start(t)
	srv := ucoauthtest.NewServer()
	t.Cleanup(srv.Close)
	srv.SetRotation(true)
	srv.SetLifetime(sealFleetLifetime)

	k1, k2 := "k1:"+sealFleetSecret(t), "k2:"+sealFleetSecret(t)
	raw := rs.TestClient(t)
	first := srv.Issue("DEMO")
	require.NoError(t, openSealedRedis(t, raw, k1).Save(t.Context(), "DEMO", first))
	keys := k2 + "," + k1
	store := openSealedRedis(t, raw, keys)

	const procs = 8
	runFor := 3*sealFleetLifetime + sealFleetLifetime/2
	env := []string{envSealFleetRedis + "=" + rs.Addr, envSealFleetBase + "=" + srv.BaseURL(),
		envSealFleetFor + "=" + runFor.String(), envSealFleetKeys + "=" + keys}
	results := fleet.Spawn(t, "TestSealedRedisFleetRefreshesOncePerWindow", procs, env, "SEALFLEET", srv, nil)
	t.Logf("redis: %s; refreshes: %d; results: %+v", rs, srv.Stats().Refreshes(), results)

	st := srv.Stats()
	assert.GreaterOrEqual(t, st.Refreshes(), 3, "the fleet lived through at least 3 expiry windows")
	assert.Zero(t, st.InvalidGrant, "no instance used a rotated-away refresh token")
	for i := 1; i < len(st.RefreshTimes); i++ {
		gap := st.RefreshTimes[i].Sub(st.RefreshTimes[i-1])
		assert.Greater(t, gap, sealFleetLifetime/2, "refreshes %d and %d are %s apart: two in one window", i-1, i, gap)
	}
	stored, err := store.Load(t.Context(), "DEMO")
	require.NoError(t, err)
	for i, r := range results {
		assert.Equal(t, ucoauth.Fingerprint(stored.AccessToken), r.Final, "process %d ends on the newest token", i)
		assert.Zero(t, r.Dead, "process %d was told to reauthorize", i)
		// A caller whose own 500 ms deadline passed while the machine was
		// loaded (slow) is not a failure; any other error is.
		assert.Zero(t, r.Errs-r.Slow, "process %d saw errors with everything healthy", i)
		assert.Positive(t, r.Calls, "process %d did not run", i)
	}

	// What Redis holds: sealed with the new primary key, nothing in clear.
	b, err := raw.Get(t.Context(), "ucoauth:{DEMO}:token").Bytes()
	require.NoError(t, err)
	for _, secret := range []string{stored.AccessToken, stored.RefreshToken, first.AccessToken, first.RefreshToken} {
		assert.NotContains(t, string(b), secret, "Redis holds a token in clear")
	}
	assert.Equal(t, 2, strings.Count(string(b), `"ucs1:k2:`), "both secrets sealed with the primary key: %.60s…", b)
	if _, ok := store.(ucoauth.Lister); ok { // once the store lists its keys
		n, err := tokenstore.Reseal(t.Context(), store)
		require.NoError(t, err)
		assert.Zero(t, n, "the fleet's saves already sealed everything with k2")
	}
}

// sealFleetChild is one instance: its own TokenSource over a sealed view of
// the shared Redis, hammered from several goroutines.
func sealFleetChild(t *testing.T) {
	runFor, err := time.ParseDuration(os.Getenv(envSealFleetFor))
	require.NoError(t, err)
	c := redis.NewClient(&redis.Options{Addr: os.Getenv(envSealFleetRedis), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	store := openSealedRedis(t, c, os.Getenv(envSealFleetKeys))
	cfg := ucoauth.NewConfig(ucoauthtest.DefaultClientID, ucoauthtest.DefaultClientSecret, "")
	cfg.Endpoint = ucoauth.EndpointAt(os.Getenv(envSealFleetBase))
	src := ucoauth.NewTokenSource(cfg, store, "DEMO", ucoauth.WithEarlyRefresh(sealFleetEarly),
		ucoauth.WithBackoff(50*time.Millisecond, 300*time.Millisecond), ucoauth.WithRefreshTimeout(2*time.Second))
	defer src.Close() // before the store's connection closes: a refresh may be under way

	fleet.Ready(src)
	fleet.Child(t, "SEALFLEET", src, store, "DEMO", time.Now().Add(runFor))
}

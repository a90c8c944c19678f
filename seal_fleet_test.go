package ucoauth_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// The sealed fleet runs the same scenario as TestRedisFleetRefreshesOncePerWindow
// with every process's Redis store wrapped in tokenstore.Seal. It has its own
// runner, so that redis_fleet_test.go stays untouched.
const (
	envSealFleetRedis = "UCOAUTH_SEAL_FLEET_REDIS"
	envSealFleetBase  = "UCOAUTH_SEAL_FLEET_BASE"
	envSealFleetFor   = "UCOAUTH_SEAL_FLEET_FOR"
	envSealFleetKeys  = "UCOAUTH_SEAL_FLEET_KEYS"
	sealFleetLifetime = 2 * time.Second
	sealFleetEarly    = 500 * time.Millisecond
)

type sealFleetResult struct {
	final                   string
	calls, errs, dead, slow int
}

func sealFleetSecret(t *testing.T) string {
	b := make([]byte, tokenstore.SealKeySize)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(b)
}

func openSealedRedis(t *testing.T, c redis.UniversalClient, keys string) ucoauth.TokenStore {
	parsed, err := tokenstore.ParseSealKeys(keys)
	require.NoError(t, err)
	s, err := tokenstore.Seal(tokenstore.NewRedis(c), parsed[0], parsed[1:]...)
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
	results := make([]sealFleetResult, procs)
	for i, f := range spawnFleet(t, "TestSealedRedisFleetRefreshesOncePerWindow", procs, env, "SEALFLEET", srv, nil) {
		if assert.Len(t, f, 5, "process %d's report", i) {
			results[i].final = f[0]
			results[i].calls, _ = strconv.Atoi(f[1])
			results[i].errs, _ = strconv.Atoi(f[2])
			results[i].dead, _ = strconv.Atoi(f[3])
			results[i].slow, _ = strconv.Atoi(f[4])
		}
	}
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
		assert.Equal(t, ucoauth.Fingerprint(stored.AccessToken), r.final, "process %d ends on the newest token", i)
		assert.Zero(t, r.dead, "process %d was told to reauthorize", i)
		// A caller whose own 500 ms deadline passed while the machine was
		// loaded (slow) is not a failure; any other error is.
		assert.Zero(t, r.errs, "process %d saw errors with everything healthy", i)
		assert.Positive(t, r.calls, "process %d did not run", i)
	}

	// What Redis holds: sealed with the new primary key, nothing in clear.
	b, err := raw.Get(t.Context(), "ucoauth:{DEMO}:token").Bytes()
	require.NoError(t, err)
	for _, secret := range []string{stored.AccessToken, stored.RefreshToken, first.AccessToken, first.RefreshToken} {
		assert.NotContains(t, string(b), secret, "Redis holds a token in clear")
	}
	assert.Equal(t, 2, strings.Count(string(b), `"ucs1:k2:`), "both secrets sealed with the primary key: %.60s…", b)
	if _, ok := store.(ucoauth.Lister); ok { // once tokenstore.Redis lists its keys
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

	fleetReady(src)
	var calls, errs, dead, slow atomic.Int64
	stop := time.Now().Add(runFor)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := src.TokenContext(ctx)
				cancel()
				calls.Add(1)
				switch {
				case err == nil:
				case errors.Is(err, context.DeadlineExceeded):
					slow.Add(1)
				default:
					if errs.Add(1) == 1 {
						fmt.Fprintf(os.Stderr, "sealed fleet process: first error: %v\n", err)
					}
					if errors.Is(err, ucoauth.ErrReauthorizationRequired) {
						dead.Add(1)
					}
				}
				if err != nil {
					time.Sleep(5 * time.Millisecond)
				}
				// A caller between API calls. Callers spinning on Token() would
				// starve the lock holder of 8 processes on 2 cores, until the
				// others' lock waits time out: a load no fleet produces.
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	fmt.Println("DONE")
	_, err = bufio.NewReader(os.Stdin).ReadString('\n')
	require.NoError(t, err)

	var final string
	require.Eventually(t, func() bool {
		tok, err := src.Token()
		stored, serr := store.Load(context.Background(), "DEMO")
		if err != nil || serr != nil {
			return false
		}
		final = ucoauth.Fingerprint(tok.AccessToken)
		return fleetSettled(tok, stored)
	}, 15*time.Second, 20*time.Millisecond, "never converged on the stored token")
	fmt.Printf("SEALFLEET %s %d %d %d %d\n", final, calls.Load(), errs.Load(), dead.Load(), slow.Load())
}

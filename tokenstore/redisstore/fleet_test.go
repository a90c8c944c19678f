package redisstore_test

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
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

const (
	fleetLifetime = 2 * time.Second
	fleetEarly    = 500 * time.Millisecond
	envFleetRedis = "UCOAUTH_FLEET_REDIS"
	envFleetBase  = "UCOAUTH_FLEET_BASE"
	envFleetFor   = "UCOAUTH_FLEET_FOR"
	// envFleetSentinel and envFleetMaster replace envFleetRedis for a
	// fleet behind a Sentinel.
	envFleetSentinel = "UCOAUTH_FLEET_SENTINEL"
	envFleetMaster   = "UCOAUTH_FLEET_MASTER"
)

// isFleetChild reports whether this process is a fleet member that the
// test started, rather than the test itself.
func isFleetChild() bool { return os.Getenv(envFleetRedis) != "" || os.Getenv(envFleetSentinel) != "" }

// runFleet starts procs OS processes (this test binary, re-run as
// fleetChild) that share one Redis and one merchant key and hammer Token()
// for runFor. during, if set, runs in the parent meanwhile.
func runFleet(t *testing.T, testName string, procs int, runFor time.Duration, during func(rs *redistest.Server, tr *fleet.Trace)) (*ucoauthtest.Server, *redisstore.Store, []fleet.Report) {
	rs := redistest.Start(t)
	store := redisstore.New(rs.TestClient(t))
	srv, results := runFleetOn(t, testName, procs, runFor, []string{envFleetRedis + "=" + rs.Addr}, store, func(tr *fleet.Trace) {
		if during != nil {
			during(rs, tr)
		}
	})
	t.Logf("redis: %s", rs)
	return srv, store, results
}

// runFleetOn runs the fleet on the Redis that env tells the children to use
// (envFleetRedis, or envFleetSentinel and envFleetMaster) and store reaches.
// The children reach the fake UltraCart through a fleet.Trace, which the
// test logs when a refresh token was refused.
func runFleetOn(t *testing.T, testName string, procs int, runFor time.Duration, env []string, store *redisstore.Store, during func(tr *fleet.Trace)) (*ucoauthtest.Server, []fleet.Report) {
	srv := ucoauthtest.NewServer()
	t.Cleanup(srv.Close)
	srv.SetRotation(true)
	srv.SetLifetime(fleetLifetime)
	seed := srv.Issue("DEMO")
	require.NoError(t, store.Save(t.Context(), "DEMO", seed))
	tr := fleet.NewTrace(t, srv.BaseURL(), seed.RefreshToken)

	env = append(env[:len(env):len(env)], envFleetBase+"="+tr.BaseURL(), envFleetFor+"="+runFor.String())
	results := fleet.Spawn(t, testName, procs, env, "FLEET", srv, func() { during(tr) })
	t.Logf("refreshes: %d, invalid_grant: %d; results: %+v", srv.Stats().Refreshes(), srv.Stats().InvalidGrant, results)
	if srv.Stats().InvalidGrant > 0 {
		t.Logf("refresh tokens presented (generation 0 is the seeded one):\n%s", tr)
	}
	return srv, results
}

// fleetClient is the child's Redis client, as the parent's env describes.
func fleetClient() redis.UniversalClient {
	if sentinel := os.Getenv(envFleetSentinel); sentinel != "" {
		return redis.NewFailoverClient(&redis.FailoverOptions{MasterName: os.Getenv(envFleetMaster),
			SentinelAddrs: strings.Split(sentinel, ","), DialTimeout: 200 * time.Millisecond})
	}
	return redis.NewClient(&redis.Options{Addr: os.Getenv(envFleetRedis), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
}

// fleetChild is one instance of the fleet: its own TokenSource over the
// shared Redis, hammered from several goroutines.
func fleetChild(t *testing.T) {
	runFor, err := time.ParseDuration(os.Getenv(envFleetFor))
	require.NoError(t, err)
	c := fleetClient()
	defer c.Close()
	store := redisstore.New(c)
	cfg := ucoauth.NewConfig(ucoauthtest.DefaultClientID, ucoauthtest.DefaultClientSecret, "")
	cfg.Endpoint = ucoauth.EndpointAt(os.Getenv(envFleetBase))
	// fleet.ChildOptions: the child names itself to the trace, and logs
	// with fleet.EnvDebug set.
	src := ucoauth.NewTokenSource(cfg, store, "DEMO", append(fleet.ChildOptions(), ucoauth.WithEarlyRefresh(fleetEarly),
		ucoauth.WithBackoff(50*time.Millisecond, 300*time.Millisecond), ucoauth.WithRefreshTimeout(2*time.Second))...)
	defer src.Close() // before the store's connection closes: a refresh may be under way

	fleet.Ready(src)
	fleet.Child(t, "FLEET", src, store, "DEMO", time.Now().Add(runFor))
}

// checkConverged asserts that every process ended on the stored token.
func checkConverged(t *testing.T, store *redisstore.Store, results []fleet.Report) {
	stored, err := store.Load(t.Context(), "DEMO")
	require.NoError(t, err)
	for i, r := range results {
		assert.Equal(t, ucoauth.Fingerprint(stored.AccessToken), r.Final, "process %d ends on the newest token", i)
		assert.Zero(t, r.Dead, "process %d was told to reauthorize", i)
		assert.Positive(t, r.Calls, "process %d did not run", i)
	}
}

// TestRedisFleetRefreshesOncePerWindow: 8 OS processes share one Redis and
// one merchant across at least 3 token lifetimes, with rotation on.
func TestRedisFleetRefreshesOncePerWindow(t *testing.T) {
	if isFleetChild() {
		fleetChild(t)
		return
	}
	srv, store, results := runFleet(t, "TestRedisFleetRefreshesOncePerWindow", 8, 3*fleetLifetime+fleetLifetime/2, nil)
	st := srv.Stats()
	assert.GreaterOrEqual(t, st.Refreshes(), 3, "the fleet lived through at least 3 expiry windows")
	assert.Zero(t, st.InvalidGrant, "no instance used a rotated-away refresh token")
	// One refresh per window: consecutive refreshes are a lifetime less the
	// early window apart (1.5 s). Two in one window would be milliseconds apart.
	for i := 1; i < len(st.RefreshTimes); i++ {
		gap := st.RefreshTimes[i].Sub(st.RefreshTimes[i-1])
		assert.Greater(t, gap, fleetLifetime/2, "refreshes %d and %d are %s apart: two in one window", i-1, i, gap)
	}
	for i, r := range results {
		assert.Zero(t, r.Errs, "process %d saw errors with everything healthy", i)
	}
	checkConverged(t, store, results)
}

// TestRedisFleetSurvivesRedisRestart kills Redis in the middle of the fleet
// and restarts it empty (no persistence). No refresh token may be lost: the
// fleet converges on one live token without the merchant reconnecting.
func TestRedisFleetSurvivesRedisRestart(t *testing.T) {
	if isFleetChild() {
		fleetChild(t)
		return
	}
	srv, store, results := runFleet(t, "TestRedisFleetSurvivesRedisRestart", 8, 4*fleetLifetime, func(rs *redistest.Server, tr *fleet.Trace) {
		time.Sleep(fleetLifetime + fleetLifetime/4)
		tr.Mark("killing Redis")
		rs.Kill()
		tr.Mark("Redis killed")
		time.Sleep(fleetLifetime) // tokens expire while Redis is gone
		assert.NoError(t, rs.Restart())
		tr.Mark("Redis restarted, empty")
	})
	checkRestartedFleet(t, srv, store, results)
}

// TestRedisFleetSurvivesRedisRestartMidRefresh kills Redis the moment
// UltraCart answered a refresh, before the process that asked can save the
// rotated token (unsaved: at once; saved: 20 ms later, before the others
// adopted it), and restarts it empty: the interleavings in which
// TestRedisFleetSurvivesRedisRestart met invalid_grant, every run.
func TestRedisFleetSurvivesRedisRestartMidRefresh(t *testing.T) {
	if isFleetChild() {
		fleetChild(t)
		return
	}
	for _, c := range []struct {
		name  string
		delay time.Duration
	}{{"unsaved", 0}, {"saved", 20 * time.Millisecond}} {
		t.Run(c.name, func(t *testing.T) {
			srv, store, results := runFleet(t, "TestRedisFleetSurvivesRedisRestartMidRefresh", 8, 4*fleetLifetime, func(rs *redistest.Server, tr *fleet.Trace) {
				killed := make(chan struct{})
				time.Sleep(fleetLifetime / 2)
				kill := func() {
					time.Sleep(c.delay)
					rs.Kill()
					tr.Mark("Redis killed after that answer")
					close(killed)
				}
				tr.AfterNextAnswer(func() {
					if c.delay == 0 {
						kill() // before the answer reaches the process
					} else {
						go kill()
					}
				})
				<-killed
				time.Sleep(fleetLifetime) // tokens expire while Redis is gone
				assert.NoError(t, rs.Restart())
				tr.Mark("Redis restarted, empty")
			})
			checkRestartedFleet(t, srv, store, results)
		})
	}
}

// checkRestartedFleet asserts what a fleet whose Redis restarted empty
// must end with: no refresh token presented twice, every process on the
// stored token, and that token's refresh token live.
func checkRestartedFleet(t *testing.T, srv *ucoauthtest.Server, store *redisstore.Store, results []fleet.Report) {
	st := srv.Stats()
	assert.Zero(t, st.InvalidGrant, "no refresh token was used twice")
	checkConverged(t, store, results)

	// The converged token's refresh token is live: the merchant is connected.
	stored, err := store.Load(t.Context(), "DEMO")
	require.NoError(t, err)
	skewed := func() time.Time { return time.Now().Add(time.Hour) }
	mem := tokenstore.NewMemory()
	require.NoError(t, mem.Save(t.Context(), "DEMO", stored))
	_, err = ucoauth.NewTokenSource(srv.Config(), mem, "DEMO", ucoauth.WithClock(skewed)).Token()
	assert.NoError(t, err, "the fleet's refresh token still works after the chaos")
}

// TestRedisHotPathNeverTouchesRedis adds 1 ms to every Redis command and
// counts them: while the token is fresh, Token() sends none.
func TestRedisHotPathNeverTouchesRedis(t *testing.T) {
	rs := redistest.Start(t)
	c := rs.TestClient(t)
	var cmds atomic.Int64
	c.AddHook(slowHook{n: &cmds, delay: time.Millisecond})
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	store := redisstore.New(c)
	require.NoError(t, store.Save(t.Context(), "DEMO", srv.Issue("DEMO")))
	src := ucoauth.NewTokenSource(srv.Config(), store, "DEMO")
	_, err := src.Token()
	require.NoError(t, err)
	before := cmds.Load()
	require.Positive(t, before, "precondition: the hook sees commands")
	for range 10000 {
		_, err := src.Token()
		require.NoError(t, err)
	}
	assert.Equal(t, before, cmds.Load(), "Token() on a fresh token sent Redis commands")
}

type slowHook struct {
	n     *atomic.Int64
	delay time.Duration
}

func (h slowHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h slowHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		time.Sleep(h.delay)
		return next(ctx, cmd)
	}
}
func (h slowHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		time.Sleep(h.delay)
		return next(ctx, cmds)
	}
}

// TestRedisOutagePolicy shows the documented policy against a Redis that is
// killed: the cached token keeps being served, no refresh happens without
// the lock, an expired token gives a temporary StoreError, and once Redis is
// back (empty, for a real server) the in-memory refresh token carries on.
func TestRedisOutagePolicy(t *testing.T) {
	rs := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: rs.Addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	srv.SetClock(now)
	store := redisstore.New(c)
	require.NoError(t, store.Save(t.Context(), "DEMO", srv.Issue("DEMO")))
	src := ucoauth.NewTokenSource(srv.Config(), store, "DEMO", ucoauth.WithClock(now), ucoauth.WithBackoff(time.Second, time.Second))
	first, err := src.Token()
	require.NoError(t, err)

	rs.Kill()
	skew.Add(int64(56 * time.Minute)) // stale: a refresh is due, and cannot lock
	for range 50 {
		tok, err := src.Token()
		require.NoError(t, err, "a still-valid token is served through the outage")
		assert.Equal(t, first.AccessToken, tok.AccessToken)
		time.Sleep(2 * time.Millisecond)
	}
	skew.Add(int64(10 * time.Minute)) // expired
	_, err = src.Token()
	var se *ucoauth.StoreError
	require.ErrorAs(t, err, &se, "an expired token with Redis down: a typed error")
	assert.True(t, se.Temporary())
	assert.Zero(t, srv.Stats().Refreshes(), "no lock, no refresh")

	require.NoError(t, rs.Restart())
	skew.Add(int64(2 * time.Second)) // past the backoff
	tok, err := src.Token()
	require.NoError(t, err, "Redis is back: the source recovers without the merchant reconnecting")
	assert.NotEqual(t, first.AccessToken, tok.AccessToken)
	assert.Equal(t, 1, srv.Stats().Refreshes())
	assert.Zero(t, srv.Stats().InvalidGrant)
	stored, err := store.Load(t.Context(), "DEMO")
	require.NoError(t, err)
	assert.Equal(t, tok.RefreshToken, stored.RefreshToken, "the new refresh token is back in Redis")
}

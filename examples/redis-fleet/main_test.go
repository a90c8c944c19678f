package main

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/fleet"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
)

func TestFleetRefreshesOncePerWindowWhereBareXOAuth2Fails(t *testing.T) {
	rs := redistest.Start(t)
	newClient := func() redis.UniversalClient { return rs.TestClient(t) }
	const lifetime = 2 * time.Second
	p := fleet.Params{Instances: 4, Lifetime: lifetime, Every: 20 * time.Millisecond, Duration: 2*lifetime + lifetime/4}
	ours, bare, err := run(p, stores(newClient, nil))
	require.NoError(t, err)
	t.Logf("go-ucoauth %+v, x/oauth2 %+v", ours, bare)
	assert.Zero(t, ours.InvalidGrant)
	assert.Zero(t, ours.FailedCalls)
	// Refreshes come every lifetime less the early window, 1.5 s: 3 in 4.5 s.
	assert.GreaterOrEqual(t, ours.Requests, 2)
	assert.LessOrEqual(t, ours.Requests, 3, "one refresh per window for the whole fleet")
	assert.Positive(t, bare.InvalidGrant, "bare x/oauth2 instances kill each other's refresh tokens")
	assert.Greater(t, bare.Requests, ours.Requests)
}

// TestFleetOnClusterAndSentinel runs the fleet on a real 3-master Cluster
// and behind a Sentinel, through the same flags a user passes.
func TestFleetOnClusterAndSentinel(t *testing.T) {
	const lifetime = 2 * time.Second
	p := fleet.Params{Instances: 4, Lifetime: lifetime, Every: 20 * time.Millisecond, Duration: lifetime + lifetime/2}
	cl := redistest.StartCluster(t, 3)
	sn := redistest.StartSentinel(t)
	for name, args := range map[string][3]string{
		"Cluster":  {strings.Join(cl.Addrs(), ","), "", ""},
		"Sentinel": {"", sn.Sentinel.Addr, sn.MasterName},
	} {
		t.Run(name, func(t *testing.T) {
			newClient, where, _, err := redisClients(args[0], args[1], args[2])
			require.NoError(t, err)
			ours, err := fleet.Ucoauth(p, stores(closedAtCleanup(t, newClient), nil))
			require.NoError(t, err)
			t.Logf("%s: %+v", where, ours)
			assert.Zero(t, ours.InvalidGrant)
			assert.Zero(t, ours.FailedCalls)
			assert.Positive(t, ours.Requests)
			assert.LessOrEqual(t, ours.Requests, 2, "one refresh per window for the whole fleet")
		})
	}
	_, err := clusterOptions("redis://127.0.0.1:1?addr=127.0.0.1:2")
	assert.NoError(t, err, "a cluster URL is accepted too")
}

// TestBadRedisURLShowsNoPassword: go-redis's parse errors quote the whole
// URL (net/url's do), password and all.
func TestBadRedisURLShowsNoPassword(t *testing.T) {
	for _, u := range []string{"redis://u:Pa55%zz@127.0.0.1:1/0", "redis://u:Pa55@127.0.0.1:x/0", "redis://u:12/Pa55@127.0.0.1:1"} {
		_, err := clusterOptions(u)
		if err != nil {
			assert.NotContains(t, err.Error(), "Pa55", u)
		}
		t.Setenv("REDIS_URL", u)
		_, _, _, err = redisClients("", "", "")
		require.Error(t, err, u)
		assert.NotContains(t, err.Error(), "Pa55", u)
	}
}

// TestEmbeddedRedisRunsWithoutWarnings: "go run ./examples/redis-fleet", the
// README's command, runs on the embedded miniredis, which has no replicas
// and no INFO replication. The fleet's stores must not warn about it: a new
// user saw a WARN line per instance before the table.
func TestEmbeddedRedisRunsWithoutWarnings(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	var mu sync.Mutex
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs}, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	newClient, where, opts, err := redisClients("", "", "")
	require.NoError(t, err)
	require.Contains(t, where, "miniredis")
	const lifetime = 2 * time.Second
	p := fleet.Params{Instances: 2, Lifetime: lifetime, Every: 20 * time.Millisecond, Duration: lifetime}
	ours, err := fleet.Ucoauth(p, stores(closedAtCleanup(t, newClient), opts))
	require.NoError(t, err)
	assert.Positive(t, ours.Requests, "the fleet refreshed, so it saved and locked")
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, logs.String(), "nothing logged")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// closedAtCleanup wraps newClient so that every client it makes is closed
// when the test ends.
func closedAtCleanup(t *testing.T, newClient func() redis.UniversalClient) func() redis.UniversalClient {
	var mu sync.Mutex
	var clients []redis.UniversalClient
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range clients {
			c.Close()
		}
	})
	return func() redis.UniversalClient {
		c := newClient()
		mu.Lock()
		clients = append(clients, c)
		mu.Unlock()
		return c
	}
}

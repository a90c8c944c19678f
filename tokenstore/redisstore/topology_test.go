package redisstore_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// topologyHarness runs the conformance suite on stores made by newClient,
// each handle with its own client, as separate processes would have.
func topologyHarness(newClient func(t *testing.T) redis.UniversalClient) storetest.Harness {
	var n atomic.Int32
	const lockTTL = 500 * time.Millisecond
	var mu sync.Mutex
	prefixes := map[ucoauth.TokenStore]string{}
	clients := map[ucoauth.TokenStore]redis.UniversalClient{}
	open := func(t *testing.T, p string) ucoauth.TokenStore {
		c := newClient(t)
		s := redisstore.New(c, redisstore.WithKeyPrefix(p), redisstore.WithLockTTL(lockTTL))
		mu.Lock()
		defer mu.Unlock()
		prefixes[s], clients[s] = p, c
		return s
	}
	return storetest.Harness{
		New: func(t *testing.T) ucoauth.TokenStore { return open(t, fmt.Sprintf("topo%d:", n.Add(1))) },
		Peer: func(t *testing.T, s ucoauth.TokenStore) ucoauth.TokenStore {
			mu.Lock()
			p := prefixes[s]
			mu.Unlock()
			return open(t, p)
		},
		Abandon: func(t *testing.T, s ucoauth.TokenStore) {
			mu.Lock()
			c := clients[s]
			mu.Unlock()
			require.NoError(t, c.Close(), "the holder's process dies: its connections go")
		},
		// Plant writes through the store's own client, so the record lands
		// on the key's master (a Cluster routes it to the slot's owner).
		Plant: func(t *testing.T, s ucoauth.TokenStore, key string, raw []byte) {
			mu.Lock()
			c := clients[s]
			mu.Unlock()
			r := s.(*redisstore.Store)
			require.NoError(t, c.Set(t.Context(), redisstore.TokenKey(r, key), raw, 0).Err())
		},
		LockTTL: lockTTL,
	}
}

// TestRedisClusterConformance runs the suite on a real 3-master Cluster.
func TestRedisClusterConformance(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	storetest.Run(t, topologyHarness(func(t *testing.T) redis.UniversalClient { return cl.Client(t) }))
}

// TestRedisSentinelConformance runs the suite on a master and a replica
// behind a Sentinel, so every save and lock also waits for the replica.
func TestRedisSentinelConformance(t *testing.T) {
	s := redistest.StartSentinel(t)
	storetest.Run(t, topologyHarness(func(t *testing.T) redis.UniversalClient { return s.Client(t) }))
}

// TestRedisSentinelKillMasterLosesNoAcknowledgedSave: the replica stalls
// and drops its link, a save reaches only the master, the master dies and
// the Sentinel promotes the replica. The store never acknowledged that save (ErrNotReplicated),
// so every save that returned nil survives the failover.
func TestRedisSentinelKillMasterLosesNoAcknowledgedSave(t *testing.T) {
	sn := redistest.StartSentinel(t)
	ctx := t.Context()
	s := redisstore.New(sn.Client(t))
	exp := time.Now().Add(time.Hour)
	acked := ""
	save := func(name string, d time.Duration) {
		if err := s.Save(ctx, "m", storetest.Token(name, exp.Add(d))); err == nil {
			acked = name
		} else {
			assert.ErrorIs(t, err, redisstore.ErrNotReplicated)
		}
	}
	save("at-1", 0)
	require.Equal(t, "at-1", acked, "precondition: a healthy save is acknowledged")

	// The replica stalls and loses its link: the master takes writes alone.
	sn.Replica.Freeze()
	t.Cleanup(sn.Replica.Thaw)
	require.NoError(t, sn.Master.Client(t).ClientKillByFilter(ctx, "TYPE", "replica").Err())
	save("at-2", time.Minute) // reaches the master only
	sn.KillMaster()
	sn.Master.Thaw()
	sn.WaitPromoted(t)

	fresh := redisstore.New(sn.Client(t))
	require.Eventually(t, func() bool { _, err := fresh.Load(ctx, "m"); return err == nil }, 20*time.Second, 50*time.Millisecond)
	got, err := fresh.Load(ctx, "m")
	require.NoError(t, err)
	assert.Equal(t, acked, got.AccessToken, "the last acknowledged save survived the failover")
}

// TestRedisSentinelLongLivedStoreWritesAfterMasterLoss: the master dies for
// good and the Sentinel promotes its only replica. A store that saw the old
// master with a replica must treat the promoted one as a new master with
// none, like a store created after the failover does: behind a Sentinel
// every master has the same client name, and remembering "this master had
// replicas" under that name made every later save and lock of a long-lived
// process fail with ErrNotReplicated (no refresh at all) while a process
// started after the failover wrote freely.
func TestRedisSentinelLongLivedStoreWritesAfterMasterLoss(t *testing.T) {
	sn := redistest.StartSentinel(t)
	ctx := t.Context()
	s := redisstore.New(sn.Client(t))
	exp := time.Now().Add(time.Hour)
	require.NoError(t, s.Save(ctx, "m", storetest.Token("at-1", exp)), "precondition: the replica acknowledges")
	rec, err := sn.Replica.Client(t).Get(ctx, "ucoauth:{m}:token").Result()
	require.NoError(t, err, "precondition: the save waited for the replica")
	require.Contains(t, rec, "at-1")

	sn.KillMaster()
	sn.WaitPromoted(t)
	require.Eventually(t, func() bool {
		return s.Save(ctx, "m", storetest.Token("at-2", exp.Add(time.Minute))) == nil
	}, 20*time.Second, 100*time.Millisecond, "the long-lived store saves on the promoted master")
	unlock, err := s.Lock(ctx, "m")
	require.NoError(t, err, "and takes the lock there")
	unlock()
	got, err := redisstore.New(sn.Client(t)).Load(ctx, "m")
	require.NoError(t, err)
	assert.Equal(t, "at-2", got.AccessToken)
}

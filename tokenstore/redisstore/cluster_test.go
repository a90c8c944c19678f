package redisstore_test

import (
	"context"
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
)

// slotMove drives one slot from its owner to another node, step by step.
type slotMove struct {
	t        *testing.T
	cl       *redistest.Cluster
	slot     int
	src, dst *redistest.Node
}

func newSlotMove(t *testing.T, cl *redistest.Cluster, redisKey string) *slotMove {
	slot, err := cl.Nodes[0].Client(t).ClusterKeySlot(t.Context(), redisKey).Result()
	require.NoError(t, err)
	src := cl.SlotOwner(t, int(slot))
	var dst *redistest.Node
	for _, n := range cl.Nodes {
		if n != src {
			dst = n
			break
		}
	}
	return &slotMove{t: t, cl: cl, slot: int(slot), src: src, dst: dst}
}

// begin marks the slot IMPORTING on dst and MIGRATING on src.
func (m *slotMove) begin() {
	ctx := m.t.Context()
	require.NoError(m.t, m.dst.Client(m.t).Do(ctx, "cluster", "setslot", m.slot, "importing", m.cl.NodeID(m.t, m.src)).Err())
	require.NoError(m.t, m.src.Client(m.t).Do(ctx, "cluster", "setslot", m.slot, "migrating", m.cl.NodeID(m.t, m.dst)).Err())
}

// migrate MIGRATEs every key of the slot that src still holds to dst.
func (m *slotMove) migrate() {
	ctx := m.t.Context()
	c := m.src.Client(m.t)
	keys, err := c.ClusterGetKeysInSlot(ctx, m.slot, 1000).Result()
	require.NoError(m.t, err)
	if len(keys) == 0 {
		return
	}
	args := []any{"migrate", "127.0.0.1", m.dst.Port, "", 0, 5000, "keys"}
	for _, k := range keys {
		args = append(args, k)
	}
	require.NoError(m.t, c.Do(ctx, args...).Err())
}

// finish assigns the slot to dst on every node.
func (m *slotMove) finish() {
	ctx := m.t.Context()
	id := m.cl.NodeID(m.t, m.dst)
	for _, n := range append([]*redistest.Node{m.dst, m.src}, m.cl.Nodes...) {
		require.NoError(m.t, n.Client(m.t).Do(ctx, "cluster", "setslot", m.slot, "node", id).Err())
	}
}

// TestUpstreamGoRedisClusterWatchReportsSuccessWithoutRunning reproduces the
// go-redis v9.23.0 bug the Redis store guards against: while a slot
// migrates, WATCH on a key the source no longer has gets ASK, the client
// goes to the target without ASKING, gets MOVED back, and when its
// redirects run out ClusterClient.Watch returns nil (the error is
// overwritten by c.nodes.GetOrCreate's nil) without having called fn. If
// this test starts failing, go-redis has fixed the bug.
func TestUpstreamGoRedisClusterWatchReportsSuccessWithoutRunning(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	cc := cl.Client(t)
	ctx := t.Context()
	const key = "repro:{slot-moving}:k"
	m := newSlotMove(t, cl, key)
	m.begin() // the key does not exist on the source: it answers ASK

	called := false
	err := cc.Watch(ctx, func(tx *redis.Tx) error {
		called = true
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error { p.Set(ctx, key, "v", 0); return nil })
		return err
	}, key)
	assert.NoError(t, err, "the bug: Watch reports success...")
	assert.False(t, called, "...without running the transaction")
	assert.Zero(t, m.src.Client(t).Exists(ctx, key).Val()+m.dst.Client(t).Exists(ctx, key).Val(), "nothing was written")
}

// TestRedisClusterSaveDuringSlotMoveIsNeverSilentlyLost: the case above,
// through the store: a save that could not run is an error, never nil.
func TestRedisClusterSaveDuringSlotMoveIsNeverSilentlyLost(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	s := redisstore.New(cl.Client(t))
	ctx := t.Context()
	m := newSlotMove(t, cl, "ucoauth:{m}:token")
	m.begin()
	err := s.Save(ctx, "m", storetest.Token("at-1", time.Now().Add(time.Hour)))
	require.ErrorIs(t, err, redisstore.ErrUnconfirmed, "a save that never ran must not return nil")
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err = s.Lock(short, "m")
	require.ErrorIs(t, err, context.DeadlineExceeded, "a lock attempt that never ran is not a lock: it waits for the slot")
	assert.Zero(t, m.src.Client(t).Exists(ctx, "ucoauth:{m}:lock").Val()+m.dst.Client(t).Exists(ctx, "ucoauth:{m}:lock").Val())
	m.finish()
	require.NoError(t, s.Save(ctx, "m", storetest.Token("at-2", time.Now().Add(time.Hour))), "the slot settled")
	got, err := s.Load(ctx, "m")
	require.NoError(t, err)
	assert.Equal(t, "at-2", got.AccessToken)
}

// TestRedisClusterSlotMigrationLosesNothing moves the slots of four
// merchants to other masters (IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE)
// while saves and locks hammer them: every save that returned nil is
// visible afterwards with the newest token, and no lock outlives its holder.
func TestRedisClusterSlotMigrationLosesNothing(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	ctx := t.Context()
	merchants := []string{"m0", "m1", "m2", "m3"}
	base := time.Now().Add(time.Hour)

	var stop atomic.Bool
	var wg sync.WaitGroup
	lastAck := make([]string, len(merchants))
	var acked, refused, lost, locks, lockErrs atomic.Int64
	for i, key := range merchants {
		saver := redisstore.New(cl.Client(t), redisstore.WithRecordTTL(time.Hour))
		locker := redisstore.New(cl.Client(t)) // the default 100 s TTL: only a release frees it
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				name := fmt.Sprintf("%s-at-%05d", key, n)
				c, cancel := context.WithTimeout(ctx, 5*time.Second)
				exp := base.Add(time.Duration(n) * time.Millisecond)
				err := saver.Save(c, key, storetest.Token(name, exp))
				if err == nil {
					lastAck[i] = name
					acked.Add(1)
					// Visible right away: nothing newer is saved meanwhile.
					got, err := saver.Load(c, key)
					if !assert.NoError(t, err, "loading what %s just saved", key) || !assert.Equal(t, name, got.AccessToken, "an acknowledged save is not visible") {
						lost.Add(1)
					}
				} else {
					refused.Add(1)
				}
				cancel()
			}
		})
		wg.Go(func() {
			for !stop.Load() {
				c, cancel := context.WithTimeout(ctx, 5*time.Second)
				unlock, err := locker.Lock(c, key)
				cancel()
				if err != nil {
					lockErrs.Add(1)
					time.Sleep(5 * time.Millisecond)
					continue
				}
				locks.Add(1)
				time.Sleep(time.Millisecond)
				unlock()
			}
		})
	}

	time.Sleep(200 * time.Millisecond)
	for _, key := range merchants {
		m := newSlotMove(t, cl, "ucoauth:{"+key+"}:token")
		m.begin()
		time.Sleep(150 * time.Millisecond) // saves run on a MIGRATING slot
		m.migrate()
		time.Sleep(150 * time.Millisecond) // the keys moved, the slot has not
		m.finish()
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	t.Logf("saves acknowledged %d, refused %d; locks %d, lock errors %d", acked.Load(), refused.Load(), locks.Load(), lockErrs.Load())
	assert.Zero(t, lost.Load(), "acknowledged saves lost")

	fresh := redisstore.New(cl.Client(t))
	for i, key := range merchants {
		require.NotEmpty(t, lastAck[i], "precondition: %s saw acknowledged saves", key)
		got, err := fresh.Load(ctx, key)
		require.NoError(t, err, "an acknowledged save vanished for %s", key)
		assert.Equal(t, lastAck[i], got.AccessToken, "the newest acknowledged save wins for %s", key)
	}
	for _, n := range cl.Nodes {
		left, err := n.Client(t).Keys(ctx, "ucoauth:{*}:lock").Result()
		require.NoError(t, err)
		assert.Empty(t, left, "a lock outlived its holder on %s", n.Addr)
	}
	assert.Positive(t, locks.Load())
}

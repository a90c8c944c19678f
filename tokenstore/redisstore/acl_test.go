package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
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

// realServer starts a redis-server, skipping (or failing, when CI requires
// one) where only miniredis is available: ACLs and WAIT need the real thing.
func realServer(t *testing.T) *redistest.Server {
	redistest.RequireBinaries(t)
	srv := redistest.Start(t)
	require.True(t, srv.Real)
	return srv
}

// TestRedisACLWithoutChannelsPollsForTheLock: a Redis 7 user with the
// default resetchannels may not SUBSCRIBE or PUBLISH; waiters poll instead
// of failing with NOPERM, and the holder's release still works.
func TestRedisACLWithoutChannelsPollsForTheLock(t *testing.T) {
	srv := realServer(t)
	admin := srv.TestClient(t)
	ctx := t.Context()
	require.NoError(t, admin.Do(ctx, "acl", "setuser", "app", "reset", "on", ">app-pw", "~*", "resetchannels", "+@all").Err())
	limited := func() *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr, Username: "app", Password: "app-pw", MaxRetries: -1})
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Precondition: this user really cannot subscribe.
	sub := limited().Subscribe(ctx, "ucoauth:{m}:unlock")
	_, err := sub.Receive(ctx)
	require.ErrorContains(t, err, "NOPERM")
	sub.Close()

	holder, waiter := redisstore.New(limited()), redisstore.New(limited())
	unlock, err := holder.Lock(ctx, "m")
	require.NoError(t, err)
	got := make(chan error, 1)
	go func() {
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		u, err := waiter.Lock(c, "m")
		if err == nil {
			u()
		}
		got <- err
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-got:
		t.Fatalf("the waiter did not wait: %v", err)
	default:
	}
	unlock()
	assert.NoError(t, <-got, "the waiter gets the lock by polling")
	assert.Zero(t, admin.Exists(ctx, "ucoauth:{m}:lock").Val(), "the lock is released without PUBLISH rights")
}

// TestRedisLockWithoutTTLGetsOne: a lock key with no expiry, written by hand
// or a foreign tool, is given the lock TTL instead of blocking forever.
func TestRedisLockWithoutTTLGetsOne(t *testing.T) {
	srv := realServer(t)
	c := srv.TestClient(t)
	ctx := t.Context()
	require.NoError(t, c.Set(ctx, "ucoauth:{m}:lock", "left-by-hand", 0).Err())
	s := redisstore.New(c, redisstore.WithLockTTL(300*time.Millisecond))
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	unlock, err := s.Lock(wait, "m")
	require.NoError(t, err, "a TTL-less lock key must not block forever")
	unlock()
}

// failUnlocks makes the first n unlock-script calls fail, as a Cluster slot
// move does (TRYAGAIN, MOVED).
type failUnlocks struct{ n *atomic.Int32 }

func (failUnlocks) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h failUnlocks) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); (name == "evalsha" || name == "eval") && strings.Contains(cmd.String(), "unlock") && h.n.Add(-1) >= 0 {
			err := errors.New("TRYAGAIN Multiple keys request during rehashing of slot")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}
func (failUnlocks) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestRedisUnlockRetriesThenReports: a failed release is retried, and one
// that keeps failing is logged rather than ignored.
func TestRedisUnlockRetriesThenReports(t *testing.T) {
	srv := realServer(t)
	ctx := t.Context()
	admin := srv.TestClient(t)
	var failures atomic.Int32
	c := srv.TestClient(t)
	c.AddHook(failUnlocks{&failures})
	var logs syncBuffer
	s := redisstore.New(c, redisstore.WithLockTTL(5*time.Second), redisstore.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))

	failures.Store(2) // transient
	unlock, err := s.Lock(ctx, "m")
	require.NoError(t, err)
	unlock()
	assert.Zero(t, admin.Exists(ctx, "ucoauth:{m}:lock").Val(), "released after two failed attempts")
	assert.Empty(t, logs.String())

	failures.Store(1000) // lasting
	unlock, err = s.Lock(ctx, "m")
	require.NoError(t, err)
	unlock()
	assert.Equal(t, int64(1), admin.Exists(ctx, "ucoauth:{m}:lock").Val(), "precondition: the release kept failing")
	assert.Contains(t, logs.String(), "cannot release a refresh lock")
	assert.Contains(t, logs.String(), "TRYAGAIN")
	assert.Contains(t, logs.String(), `key=m`)
}

// TestRedisSentinelSaveWaitsForReplica: with a replica attached, a save is
// acknowledged only once the replica has it; a stalled replica turns the
// save (and a lock) into a temporary error instead of a write a failover
// would lose.
func TestRedisSentinelSaveWaitsForReplica(t *testing.T) {
	sn := redistest.StartSentinel(t)
	ctx := t.Context()
	c := sn.Client(t)
	s := redisstore.New(c, redisstore.WithReplicaAcks(1, 300*time.Millisecond))
	auto := redisstore.New(c)
	never := redisstore.New(c, redisstore.WithReplicaAcks(0, 0))
	exp := time.Now().Add(time.Hour)
	require.NoError(t, auto.Save(ctx, "m", storetest.Token("at-1", exp)))
	rec, err := sn.Replica.Client(t).Get(ctx, "ucoauth:{m}:token").Result()
	require.NoError(t, err, "an acknowledged save is on the replica already")
	assert.Contains(t, rec, "at-1")

	sn.Replica.Freeze()
	t.Cleanup(sn.Replica.Thaw)
	for _, st := range []*redisstore.Store{s, auto} {
		err = st.Save(ctx, "m", storetest.Token("at-2", exp.Add(time.Minute)))
		require.ErrorIs(t, err, redisstore.ErrNotReplicated, "a save no replica acknowledged is not durable")
		assert.True(t, (&ucoauth.StoreError{Op: "save", Err: err}).Temporary(), "the TokenSource keeps the token and retries")
		_, err = st.Lock(ctx, "m")
		require.ErrorIs(t, err, redisstore.ErrNotReplicated)
		assert.Zero(t, sn.Master.Client(t).Exists(ctx, "ucoauth:{m}:lock").Val(), "a lock that is not durable is given back")
	}
	assert.NoError(t, never.Save(ctx, "m", storetest.Token("at-3", exp.Add(2*time.Minute))), "WithReplicaAcks(0, 0) does not wait")

	sn.Replica.Thaw()
	require.NoError(t, auto.Save(ctx, "m", storetest.Token("at-4", exp.Add(3*time.Minute))))
	rec, err = sn.Replica.Client(t).Get(ctx, "ucoauth:{m}:token").Result()
	require.NoError(t, err)
	assert.Contains(t, rec, "at-4")
}

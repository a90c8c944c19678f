package redisstore_test

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
)

func TestLeaseRedis(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.TestClient(t)
	s := redisstore.New(c, redisstore.WithKeyPrefix("lease:"), redisstore.WithLockTTL(time.Minute))
	storetest.Lease(t, s, nil)
	storetest.Lease(t, s, func() func() {
		// Another holder's value: the lock expired and was taken.
		require.NoError(t, c.Set(t.Context(), "lease:{K}:lock", "someone else", time.Minute).Err())
		return func() { require.NoError(t, c.Del(t.Context(), "lease:{K}:lock").Err()) }
	})

	// Keep extends a lease that would expire.
	l, err := s.LockLease(t.Context(), "K")
	require.NoError(t, err)
	defer l.Release()
	require.NoError(t, c.PExpire(t.Context(), "lease:{K}:lock", time.Second).Err())
	require.NoError(t, l.Keep(t.Context()))
	ttl, err := c.PTTL(t.Context(), "lease:{K}:lock").Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 30*time.Second, "the lock TTL again")
}

// TestInvalidUTF8KeysRefused: a key JSON cannot keep is refused up front,
// with ErrInvalidKey, by every operation (miniredis: no server needed).
func TestInvalidUTF8KeysRefused(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	storetest.RefusesInvalidKeys(t, redisstore.New(rdb))
}

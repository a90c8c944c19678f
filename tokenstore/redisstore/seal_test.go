package redisstore_test

import (
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// sealKeys are shared by a store and its peers, as two processes with one
// configuration would share them: k2 seals, k1 still opens.
var sealKeys = func() []tokenstore.SealKey {
	var keys []tokenstore.SealKey
	for _, id := range []string{"k2", "k1"} {
		secret := make([]byte, tokenstore.SealKeySize)
		if _, err := rand.Read(secret); err != nil {
			panic(err)
		}
		keys = append(keys, tokenstore.SealKey{ID: id, Secret: secret})
	}
	return keys
}()

// sealed wraps inner in tokenstore.Seal with sealKeys.
func sealed(t testing.TB, inner ucoauth.TokenStore) ucoauth.TokenStore {
	t.Helper()
	s, err := tokenstore.Seal(inner, sealKeys[0], sealKeys[1:]...)
	require.NoError(t, err)
	return s
}

func TestSealedRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	var n atomic.Int32
	const lockTTL = 500 * time.Millisecond
	var mu sync.Mutex
	prefixes := map[ucoauth.TokenStore]string{}
	clients := map[ucoauth.TokenStore]*redis.Client{}
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) ucoauth.TokenStore {
			p := fmt.Sprintf("sealconf%d:", n.Add(1))
			s := sealed(t, redisstore.New(srv.TestClient(t), redisstore.WithKeyPrefix(p), redisstore.WithLockTTL(lockTTL)))
			mu.Lock()
			prefixes[s] = p
			mu.Unlock()
			return s
		},
		Peer: func(t *testing.T, s ucoauth.TokenStore) ucoauth.TokenStore {
			c := redis.NewClient(&redis.Options{Addr: srv.Addr})
			t.Cleanup(func() { c.Close() })
			mu.Lock()
			defer mu.Unlock()
			peer := sealed(t, redisstore.New(c, redisstore.WithKeyPrefix(prefixes[s]), redisstore.WithLockTTL(lockTTL)))
			prefixes[peer] = prefixes[s]
			clients[peer] = c
			return peer
		},
		Abandon: func(t *testing.T, s ucoauth.TokenStore) {
			mu.Lock()
			c := clients[s]
			mu.Unlock()
			require.NoError(t, c.Close(), "the holder's process dies: its connection goes")
			srv.FastForward(lockTTL)
		},
		LockTTL: lockTTL,
	})
}

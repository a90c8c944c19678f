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
	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/square/squaretest"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// squareHarness is the conformance harness on srv with Square-shaped
// tokens, each store wrapped by wrap (sealed, or as it is).
func squareHarness(srv *redistest.Server, name string, wrap func(testing.TB, ucoauth.TokenStore) ucoauth.TokenStore) storetest.Harness {
	var n atomic.Int32
	const lockTTL = 500 * time.Millisecond
	var mu sync.Mutex
	prefixes := map[ucoauth.TokenStore]string{}
	clients := map[ucoauth.TokenStore]*redis.Client{}
	return storetest.Harness{
		Token: squaretest.Token,
		New: func(t *testing.T) ucoauth.TokenStore {
			p := fmt.Sprintf("%s%d:", name, n.Add(1))
			s := wrap(t, redisstore.New(srv.TestClient(t), redisstore.WithKeyPrefix(p), redisstore.WithLockTTL(lockTTL)))
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
			peer := wrap(t, redisstore.New(c, redisstore.WithKeyPrefix(prefixes[s]), redisstore.WithLockTTL(lockTTL)))
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
	}
}

func asIs(_ testing.TB, s ucoauth.TokenStore) ucoauth.TokenStore { return s }

// The store conformance suite with Square's tokens (30-day lifetimes, the
// merchant's ID and the other kept extras) on Redis, sealed and not.
func TestRedisSquareTokensConformance(t *testing.T) {
	srv := redistest.Start(t)
	t.Run("Plain", func(t *testing.T) { storetest.Run(t, squareHarness(srv, "sqconf", asIs)) })
	t.Run("Sealed", func(t *testing.T) { storetest.Run(t, squareHarness(srv, "sqsealconf", sealed)) })
}

// A Square token with 29 days left comes back from Redis, sealed and not,
// with its expiry, its granted lifetime (Webhook.Bury tells a reconnected
// merchant by it) and its extras; sealed, the record holds no token in the
// clear, and the extras stay readable.
func TestRedisSquareTokenRoundTrips(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range []struct {
		name string
		wrap func(testing.TB, ucoauth.TokenStore) ucoauth.TokenStore
	}{{"Plain", asIs}, {"Sealed", sealed}} {
		t.Run(tc.name, func(t *testing.T) {
			inner := redisstore.New(srv.TestClient(t), redisstore.WithKeyPrefix("sqrt"+tc.name+":"))
			s := tc.wrap(t, inner)
			exp := time.Now().Add(square.AccessTokenLifetime - time.Hour)
			tok := squaretest.Token("EAAAsq-access-token-0001", exp)
			require.NoError(t, s.Save(t.Context(), "M1", tok))

			peer := tc.wrap(t, redisstore.New(redis.NewClient(&redis.Options{Addr: srv.Addr}), redisstore.WithKeyPrefix("sqrt"+tc.name+":")))
			got, err := peer.Load(t.Context(), "M1")
			require.NoError(t, err)
			assert.True(t, exp.Round(0).Equal(got.Expiry), "a 29-day expiry is trusted as it is: %v", got.Expiry)
			assert.Equal(t, tok.ExpiresIn, got.ExpiresIn, "the granted lifetime")
			assert.Equal(t, ucoauth.ProviderExtras(tok), ucoauth.ProviderExtras(got))
			assert.Equal(t, "MLEAAAsq-access-token-0001", square.MerchantID(got))
			assert.WithinDuration(t, exp.Add(square.PKCERefreshTokenLifetime), square.RefreshTokenExpiry(got), time.Second)

			raw, err := srv.TestClient(t).Get(t.Context(), redisstore.TokenKey(inner, "M1")).Result()
			require.NoError(t, err)
			assert.Contains(t, raw, "MLEAAAsq-access-token-0001", "the extras are readable in the record")
			if tc.name == "Sealed" {
				// (the merchant's ID, "ML" + the access token, is no token)
				assert.NotContains(t, raw, `"EAAAsq-access-token-0001"`, "the access token is sealed")
				assert.NotContains(t, raw, "rt-EAAAsq", "the refresh token is sealed")
			}
		})
	}
}

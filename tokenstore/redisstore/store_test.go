package redisstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	var n atomic.Int32
	const lockTTL = 500 * time.Millisecond
	prefixes := map[ucoauth.TokenStore]string{}
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) ucoauth.TokenStore {
			p := fmt.Sprintf("conf%d:", n.Add(1))
			s := redisstore.New(srv.TestClient(t), redisstore.WithKeyPrefix(p), redisstore.WithLockTTL(lockTTL))
			prefixes[s] = p
			return s
		},
		Peer: func(t *testing.T, s ucoauth.TokenStore) ucoauth.TokenStore {
			c := redis.NewClient(&redis.Options{Addr: srv.Addr})
			t.Cleanup(func() { c.Close() })
			peer := redisstore.New(c, redisstore.WithKeyPrefix(prefixes[s]), redisstore.WithLockTTL(lockTTL))
			prefixes[peer] = prefixes[s]
			peerClients[peer] = c
			return peer
		},
		Plant: func(t *testing.T, s ucoauth.TokenStore, key string, raw []byte) {
			r := s.(*redisstore.Store)
			require.NoError(t, srv.TestClient(t).Set(t.Context(), redisstore.TokenKey(r, key), raw, 0).Err())
		},
		Abandon: func(t *testing.T, s ucoauth.TokenStore) {
			require.NoError(t, peerClients[s].Close(), "the holder's process dies: its connection goes")
			srv.FastForward(lockTTL) // miniredis's clock only moves when told; a real one ticks
		},
		LockTTL: lockTTL,
	})
}

var peerClients = map[ucoauth.TokenStore]*redis.Client{}

func TestRedisKeyLayout(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.TestClient(t)
	ctx := t.Context()
	s := redisstore.New(c, redisstore.WithRecordTTL(time.Hour))
	require.NoError(t, s.Save(ctx, "M1", storetest.Token("at", time.Now().Add(time.Hour))))
	b, err := c.Get(ctx, "ucoauth:{M1}:token").Bytes()
	require.NoError(t, err, "the default prefix and the hash-tagged layout")
	assert.Contains(t, string(b), `"version":1`, "the same versioned JSON as the file store")
	ttl, err := c.PTTL(ctx, "ucoauth:{M1}:token").Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 59*time.Minute)
	assert.LessOrEqual(t, ttl, time.Hour)

	unlock, err := s.Lock(ctx, "M1")
	require.NoError(t, err)
	owner, err := c.Get(ctx, "ucoauth:{M1}:lock").Result()
	require.NoError(t, err)
	assert.Len(t, owner, 32, "a random owner value")
	lttl, err := c.PTTL(ctx, "ucoauth:{M1}:lock").Result()
	require.NoError(t, err)
	assert.Greater(t, lttl, 70*time.Second, "the default lock TTL outlives a refresh")
	unlock()
	assert.Zero(t, c.Exists(ctx, "ucoauth:{M1}:lock").Val())

	// A key with braces gets a digest tag, so the tag cannot break.
	require.NoError(t, s.Save(ctx, "a}b{c", storetest.Token("at", time.Now().Add(time.Hour))))
	keys, err := c.Keys(ctx, "ucoauth:{#*}:token").Result()
	require.NoError(t, err)
	assert.Len(t, keys, 1)
	for _, k := range keys {
		assert.Equal(t, 1, strings.Count(k, "{"))
	}
}

func TestRedisUnlockOnlyByOwner(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.TestClient(t)
	s := redisstore.New(c, redisstore.WithLockTTL(200*time.Millisecond))
	unlockA, err := s.Lock(t.Context(), "m")
	require.NoError(t, err)
	if !srv.Real {
		srv.FastForward(300 * time.Millisecond)
	} else {
		time.Sleep(300 * time.Millisecond)
	}
	unlockB, err := s.Lock(t.Context(), "m") // A's lock expired: B holds it now
	require.NoError(t, err)
	unlockA() // late: must not release B's lock
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = s.Lock(short, "m")
	assert.Error(t, err, "A's late unlock released B's lock")
	unlockB()
}

func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	s := redisstore.New(c)
	ctx := t.Context()
	tok := storetest.Token("at-1", time.Now().Add(time.Hour))
	require.NoError(t, s.Save(ctx, "m", tok))

	srv.Kill()
	_, err := s.Load(ctx, "m")
	assert.Error(t, err)
	assert.NotErrorIs(t, err, ucoauth.ErrTokenNotFound, "an outage is not a missing token")
	assert.Error(t, s.Save(ctx, "m", storetest.Token("at-2", time.Now().Add(2*time.Hour))))
	_, err = s.Lock(ctx, "m")
	assert.Error(t, err)

	require.NoError(t, srv.Restart())
	got, err := s.Load(ctx, "m")
	if srv.Real {
		// No persistence: the data is gone, and nothing half-written appeared.
		assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
	} else {
		require.NoError(t, err)
		assert.Equal(t, "at-1", got.AccessToken, "the failed save wrote nothing")
	}
	require.NoError(t, s.Save(ctx, "m", tok), "it works again after the outage")
}

// TestRedisKeysEscapesPrefixAndReportsCorrupt: Keys lists only this
// prefix's records, even when the prefix holds glob characters, and a
// record it cannot read is ErrCorrupt rather than a silently missing key.
func TestRedisKeysEscapesPrefixAndReportsCorrupt(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.TestClient(t)
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	globby := redisstore.New(c, redisstore.WithKeyPrefix("a*:"))
	other := redisstore.New(c, redisstore.WithKeyPrefix("ab:"))
	require.NoError(t, globby.Save(ctx, "m1", storetest.Token("at-1", exp)))
	require.NoError(t, other.Save(ctx, "m2", storetest.Token("at-2", exp)))
	keys, err := globby.Keys(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"m1"}, keys, "the prefix is not a pattern")

	require.NoError(t, c.Set(ctx, "ab:{m3}:token", "not json", 0).Err())
	_, err = other.Keys(ctx)
	assert.ErrorIs(t, err, tokenstore.ErrCorrupt)
	assert.ErrorContains(t, err, "ab:{m3}:token", "names the record")
}

// TestRedisWrongTypeRecordIsCorruptAndReplaced: a token key that another
// tool made a hash (or list...) is a corrupt record like any other: Load
// and Keys say ErrCorrupt (not a Redis error a TokenSource takes for an
// outage and retries forever), and a Save of a real token replaces it.
func TestRedisWrongTypeRecordIsCorruptAndReplaced(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.TestClient(t)
	ctx := t.Context()
	s := redisstore.New(c)
	require.NoError(t, c.HSet(ctx, "ucoauth:{m}:token", "access_token", "SECRET-at").Err())

	_, err := s.Load(ctx, "m")
	require.ErrorIs(t, err, tokenstore.ErrCorrupt)
	assert.NotContains(t, err.Error(), "SECRET")
	assert.False(t, (&ucoauth.StoreError{Op: "load", Err: err}).Temporary(), "it will not heal by retrying")
	_, err = s.Keys(ctx)
	require.ErrorIs(t, err, tokenstore.ErrCorrupt)

	assert.Error(t, s.Save(ctx, "m", nil), "only a real token replaces it")
	tok := storetest.Token("real", time.Now().Add(time.Hour))
	require.NoError(t, s.Save(ctx, "m", tok), "a real token replaces the corrupt record")
	got, err := s.Load(ctx, "m")
	require.NoError(t, err)
	assert.Equal(t, "real", got.AccessToken)
}

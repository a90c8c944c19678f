package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
)

// The whole life of three sellers against the embedded fake Square, on
// the embedded miniredis: connect, API calls, token status, refresh by
// age, a disconnect buried by the webhook, and the overdue report while
// Square is down.
func TestSquareMerchantsRunsEndToEnd(t *testing.T) {
	t.Setenv("SQUARE_APPLICATION_ID", "") // always the embedded fake here
	t.Setenv("REDIS_URL", "")
	runsEndToEnd(t)
}

// The same on a real redis-server at REDIS_URL, as a fleet would share it;
// the sellers' tokens are there after the run, the buried one a tombstone.
func TestSquareMerchantsRunsOnARealRedis(t *testing.T) {
	srv := redistest.Start(t)
	t.Setenv("SQUARE_APPLICATION_ID", "")
	t.Setenv("REDIS_URL", "redis://"+srv.Addr+"/0")
	runsEndToEnd(t)
	keys, err := srv.TestClient(t).Keys(t.Context(), keyPrefix+"*").Result()
	require.NoError(t, err)
	joined := strings.Join(keys, " ")
	for _, s := range []string{"ML-BAKERY", "ML-BIKES", "ML-BOOKS"} {
		assert.Contains(t, joined, s, "the seller's record is in the Redis at REDIS_URL")
	}
	store := redisstore.New(srv.TestClient(t), redisstore.WithKeyPrefix(keyPrefix))
	_, err = store.Load(t.Context(), "ML-BAKERY")
	assert.NoError(t, err)
	_, err = store.Load(t.Context(), "ML-BIKES")
	assert.Error(t, err, "the disconnected seller is buried")
}

func runsEndToEnd(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, strings.NewReader("")), out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 6, out.String())
	for i, want := range []string{
		"1. connected 3 sellers: ML-BAKERY ML-BIKES ML-BOOKS",
		"2. API calls for every seller: 200 OK",
		"3. token status of ML-BAKERY: connected, expires in 30 days",
		"4. 7 days later: 3 refreshes by age",
		"5. webhook: ML-BIKES disconnected, must connect again: true",
		"6. 8 days of failed refreshes: overdue ML-BAKERY ML-BOOKS",
	} {
		assert.Equal(t, want, lines[i])
	}
}

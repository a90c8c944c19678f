package main

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/fleet"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
)

// TestFleetSealsWithUCOAUTH_SEAL_KEYS: with UCOAUTH_SEAL_KEYS set, every
// instance's Redis store is sealed (Redis holds only ciphertext) and the
// fleet still refreshes once per window; a bad key is refused.
func TestFleetSealsWithUCOAUTH_SEAL_KEYS(t *testing.T) {
	t.Setenv("UCOAUTH_SEAL_KEYS", "")
	wrap, err := sealFromEnv()
	require.NoError(t, err)
	assert.Nil(t, wrap, "no keys, no sealing")

	secret := make([]byte, tokenstore.SealKeySize)
	_, err = rand.Read(secret)
	require.NoError(t, err)
	t.Setenv("UCOAUTH_SEAL_KEYS", "k1:"+base64.StdEncoding.EncodeToString(secret))
	wrap, err = sealFromEnv()
	require.NoError(t, err)
	require.NotNil(t, wrap)

	mem := tokenstore.NewMemory()
	sealed, err := wrap(mem)
	require.NoError(t, err)
	require.NoError(t, sealed.Save(t.Context(), "m", storetest.Token("at-plain", time.Now().Add(time.Hour))))
	raw, err := mem.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(raw.AccessToken, "ucs1:k1:"), "the inner store holds ciphertext")

	rs := redistest.Start(t)
	const lifetime = 2 * time.Second
	p := fleet.Params{Instances: 3, Lifetime: lifetime, Every: 20 * time.Millisecond, Duration: lifetime + lifetime/2, Wrap: wrap}
	ours, _, err := run(p, stores(func() redis.UniversalClient { return rs.TestClient(t) }, nil))
	require.NoError(t, err)
	assert.Zero(t, ours.InvalidGrant, "a sealed fleet refreshes as one")
	assert.Zero(t, ours.FailedCalls)
	assert.Positive(t, ours.Requests)

	t.Setenv("UCOAUTH_SEAL_KEYS", "k1:not-32-bytes")
	_, err = sealFromEnv()
	assert.ErrorIs(t, err, tokenstore.ErrSealConfig, "a bad key is refused, never ignored")
}

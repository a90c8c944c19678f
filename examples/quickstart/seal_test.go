package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
)

func TestQuickstartSealsWithUCOAUTH_SEAL_KEYS(t *testing.T) {
	secret := make([]byte, tokenstore.SealKeySize)
	_, err := rand.Read(secret)
	require.NoError(t, err)
	t.Setenv("UCOAUTH_SEAL_KEYS", "k1:"+base64.StdEncoding.EncodeToString(secret))
	t.Setenv("ULTRACART_CLIENT_ID", "")

	mem := tokenstore.NewMemory()
	store, err := sealFromEnv(mem)
	require.NoError(t, err)
	require.NoError(t, store.Save(t.Context(), "m", storetest.Token("at", time.Now().Add(time.Hour))))
	raw, err := mem.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(raw.AccessToken, "ucs1:k1:"), "the store is sealed with the configured key")

	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, strings.NewReader("")), "the whole life cycle over a sealed store")
	assert.Contains(t, out.String(), "refresh token rotated: true")

	t.Setenv("UCOAUTH_SEAL_KEYS", "k1:not-32-bytes")
	_, err = sealFromEnv(mem)
	assert.ErrorIs(t, err, tokenstore.ErrSealConfig, "a bad key is refused, never ignored")
}

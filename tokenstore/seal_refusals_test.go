package tokenstore_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/record"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// TestSealRefusesDegenerateSecrets: a secret of one repeated byte (all
// zeros: an unset buffer, "AAAA…" in the configuration) is no key.
func TestSealRefusesDegenerateSecrets(t *testing.T) {
	for _, b := range []byte{0, 0xff, 'A'} {
		k := tokenstore.SealKey{ID: "k", Secret: bytes.Repeat([]byte{b}, tokenstore.SealKeySize)}
		_, err := tokenstore.Seal(tokenstore.NewMemory(), k)
		require.ErrorIs(t, err, tokenstore.ErrSealConfig, "secret of byte %#x", b)
		_, err = tokenstore.Seal(tokenstore.NewMemory(), sealK1, k)
		require.ErrorIs(t, err, tokenstore.ErrSealConfig, "older secret of byte %#x", b)
		_, err = tokenstore.ParseSealKeys("k:" + base64.StdEncoding.EncodeToString(k.Secret))
		require.ErrorIs(t, err, tokenstore.ErrSealConfig, "parsed secret of byte %#x", b)
	}
}

// spyStore records every token its Save is given.
type spyStore struct {
	ucoauth.TokenStore
	mu   sync.Mutex
	seen []*oauth2.Token
}

func (s *spyStore) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	s.mu.Lock()
	s.seen = append(s.seen, tok)
	s.mu.Unlock()
	return s.TokenStore.Save(ctx, key, tok)
}

// TestSealHandsInnerNoPlaintextExtra: a token straight from
// oauth2.Config.Exchange carries the whole JSON answer as extras, secrets
// included. The inner store must not be able to read them there either.
func TestSealHandsInnerNoPlaintextExtra(t *testing.T) {
	spy := &spyStore{TokenStore: tokenstore.NewMemory()}
	s := mustSeal(t, spy, sealK1)
	tok := (&oauth2.Token{AccessToken: "at-x", RefreshToken: "rt-x", Expiry: time.Now().Add(time.Hour)}).WithExtra(map[string]any{
		"access_token": "at-x", "refresh_token": "rt-x", "scope": "order_read", "id_token": "idt-x",
	})
	require.NoError(t, s.Save(t.Context(), "m", tok))
	require.Len(t, spy.seen, 1)
	in := spy.seen[0]
	for _, name := range []string{"access_token", "refresh_token", "id_token"} {
		assert.Nil(t, in.Extra(name), "the inner store reads extra %q", name)
	}
	assert.Equal(t, "order_read", in.Extra("scope"), "the scope stays readable")
	got, err := s.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, "rt-x", got.RefreshToken)
	assert.Equal(t, "order_read", got.Extra("scope"))
}

// TestSealHostileStoredValues: values an attacker with write access to the
// inner store can plant. Each is refused with ErrCannotOpen; the error stays
// short, prints no control character and quotes no part of the value.
func TestSealHostileStoredValues(t *testing.T) {
	mem := tokenstore.NewMemory()
	s := mustSeal(t, mem, sealK1)
	exp := time.Now().Add(time.Hour)
	require.NoError(t, s.Save(t.Context(), "m", storetest.Token("at-m", exp)))
	raw, err := mem.Load(t.Context(), "m")
	require.NoError(t, err)
	_, body, _ := strings.Cut(strings.TrimPrefix(raw.AccessToken, "ucs1:"), ":")
	dec, err := base64.RawURLEncoding.DecodeString(body)
	require.NoError(t, err)
	for name, v := range map[string]string{
		"nonce only":         "ucs1:k1:" + base64.RawURLEncoding.EncodeToString(dec[:12]),
		"nonce and tag only": "ucs1:k1:" + base64.RawURLEncoding.EncodeToString(dec[:28]),
		"last byte cut":      "ucs1:k1:" + base64.RawURLEncoding.EncodeToString(dec[:len(dec)-1]),
		"no body":            "ucs1:k1:",
		"no key ID":          "ucs1::" + body,
		"long key ID":        "ucs1:" + strings.Repeat("k", 10000) + ":" + body,
		"control key ID":     "ucs1:k1\x1b[2J\r\n:" + body,
		"ID only":            "ucs1:k1",
		"prefix only":        "ucs1:",
	} {
		t.Run(name, func(t *testing.T) {
			bad := *raw
			bad.AccessToken = v
			require.NoError(t, mem.Delete(t.Context(), "m"))
			require.NoError(t, mem.Save(t.Context(), "m", &bad))
			_, err := s.Load(t.Context(), "m")
			require.ErrorIs(t, err, tokenstore.ErrCannotOpen)
			assert.NotErrorIs(t, err, ucoauth.ErrTokenNotFound)
			msg := err.Error()
			assert.Less(t, len(msg), 300, "the error stays short")
			assert.False(t, strings.ContainsAny(msg, "\x1b\r\n"), "no control character: %q", msg)
			assert.NotContains(t, msg, body[:16])
			err = s.Save(t.Context(), "m", storetest.Token("at-new", exp.Add(time.Hour)))
			require.ErrorIs(t, err, tokenstore.ErrCannotOpen, "never overwritten")
		})
	}
}

// TestSealRefusesToSealASealedToken: a token read from the inner store
// without Seal holds ciphertext. Saved through Seal, it would be sealed a
// second time, and its "refresh token" would replace the real one.
func TestSealRefusesToSealASealedToken(t *testing.T) {
	mem := tokenstore.NewMemory()
	s := mustSeal(t, mem, sealK2, sealK1)
	exp := time.Now().Add(time.Hour)
	require.NoError(t, s.Save(t.Context(), "m", storetest.Token("at-1", exp)))
	raw, err := mem.Load(t.Context(), "m")
	require.NoError(t, err)
	require.True(t, record.IsSealed(raw), "precondition")

	for name, tok := range map[string]*oauth2.Token{
		"whole record": {AccessToken: raw.AccessToken, RefreshToken: raw.RefreshToken, Expiry: exp.Add(time.Hour)},
		"refresh only": {AccessToken: "at-2", RefreshToken: raw.RefreshToken, Expiry: exp.Add(time.Hour)},
		"future seal":  {AccessToken: "at-2", RefreshToken: "ucs9:k9:AAAA", Expiry: exp.Add(time.Hour)},
	} {
		err := s.Save(t.Context(), "m", tok)
		require.ErrorIs(t, err, tokenstore.ErrInvalidToken, name)
		assert.NotContains(t, err.Error(), raw.RefreshToken[8:], name)
	}
	got, err := s.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, "at-1", got.AccessToken)
	assert.Equal(t, "rt-at-1", got.RefreshToken, "the real refresh token is kept")
}

// TestSealRefusesOneSecretUnderTwoIDs: "k2:X,k1:X" is a rotation that
// rotated nothing; retiring k1 afterwards would retire nothing either.
func TestSealRefusesOneSecretUnderTwoIDs(t *testing.T) {
	again := tokenstore.SealKey{ID: "k2", Secret: bytes.Clone(sealK1.Secret)}
	_, err := tokenstore.Seal(tokenstore.NewMemory(), again, sealK1)
	require.ErrorIs(t, err, tokenstore.ErrSealConfig)
	assert.ErrorContains(t, err, "one secret")
	b64 := base64.StdEncoding.EncodeToString(sealK1.Secret)
	_, err = tokenstore.ParseSealKeys("k2:" + b64 + ",k1:" + base64.RawURLEncoding.EncodeToString(sealK1.Secret))
	require.ErrorIs(t, err, tokenstore.ErrSealConfig)
	assert.NotContains(t, err.Error(), b64[:8])
}

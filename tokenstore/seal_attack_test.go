package tokenstore_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
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

package square_test

import (
	"bytes"
	"encoding/base64"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// squareToken is a token as the engine saves it for Square: a 30-day
// lifetime (its expiry is the suite's), Square's scopes and the extras
// square.Provider's RefreshPolicy keeps (merchant, short_lived, a PKCE
// refresh token's expiry), as strings. A merchant ID is short, even for
// the suite's 64 KiB access token.
func squareToken(access string, expiry time.Time) *oauth2.Token {
	tok := (&oauth2.Token{
		AccessToken: access, TokenType: "bearer", RefreshToken: "rt-" + access,
		Expiry: expiry.Round(0), ExpiresIn: int64(square.AccessTokenLifetime / time.Second),
	}).WithExtra(map[string]any{"scope": "MERCHANT_PROFILE_READ PAYMENTS_READ"})
	return ucoauth.WithProviderExtras(tok, map[string]string{
		square.ExtraMerchantID:            "ML" + access[:min(len(access), 24)],
		square.ExtraShortLived:            "false",
		square.ExtraRefreshTokenExpiresAt: expiry.Add(square.PKCERefreshTokenLifetime).UTC().Format(time.RFC3339),
	})
}

// The store conformance suite, with Square-shaped tokens, on the memory,
// file and sealed stores: every field and extra survives, and the long
// lifetime changes none of the rules.
func TestSquareTokensStoreConformance(t *testing.T) {
	t.Run("Memory", func(t *testing.T) {
		storetest.Run(t, storetest.Harness{Token: squareToken,
			New: func(*testing.T) ucoauth.TokenStore { return tokenstore.NewMemory() }})
	})
	var mu sync.Mutex
	dirs := map[ucoauth.TokenStore]string{}
	newFile := func(t *testing.T, dir string) *tokenstore.File {
		f, err := tokenstore.NewFile(dir)
		require.NoError(t, err)
		mu.Lock()
		dirs[f] = dir
		mu.Unlock()
		return f
	}
	dirOf := func(s ucoauth.TokenStore) string { mu.Lock(); defer mu.Unlock(); return dirs[s] }
	t.Run("File", func(t *testing.T) {
		storetest.Run(t, storetest.Harness{Token: squareToken,
			New:  func(t *testing.T) ucoauth.TokenStore { return newFile(t, filepath.Join(t.TempDir(), "tokens")) },
			Peer: func(t *testing.T, s ucoauth.TokenStore) ucoauth.TokenStore { return newFile(t, dirOf(s)) },
		})
	})
	keys, err := tokenstore.ParseSealKeys("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7, 9}, 16)))
	require.NoError(t, err)
	seal := func(t *testing.T, s ucoauth.TokenStore) ucoauth.TokenStore {
		sealed, err := tokenstore.Seal(s, keys[0])
		require.NoError(t, err)
		mu.Lock()
		dirs[sealed] = dirs[s]
		mu.Unlock()
		return sealed
	}
	t.Run("SealedFile", func(t *testing.T) {
		storetest.Run(t, storetest.Harness{Token: squareToken,
			New: func(t *testing.T) ucoauth.TokenStore {
				return seal(t, newFile(t, filepath.Join(t.TempDir(), "tokens")))
			},
			Peer: func(t *testing.T, s ucoauth.TokenStore) ucoauth.TokenStore { return seal(t, newFile(t, dirOf(s))) },
		})
	})
}

// What the suite's requireSame compares, checked once by hand: a sealed
// file store gives back the merchant's ID and the 30-day lifetime.
func TestSquareTokenRoundTripsSealed(t *testing.T) {
	keys, err := tokenstore.ParseSealKeys("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7, 9}, 16)))
	require.NoError(t, err)
	f, err := tokenstore.NewFile(t.TempDir())
	require.NoError(t, err)
	s, err := tokenstore.Seal(f, keys[0])
	require.NoError(t, err)
	exp := time.Now().Add(square.AccessTokenLifetime - time.Hour)
	tok := squareToken("sq1", exp)
	require.NoError(t, s.Save(t.Context(), "M", tok))
	got, err := s.Load(t.Context(), "M")
	require.NoError(t, err)
	assert.Equal(t, "MLsq1", got.Extra(square.ExtraMerchantID))
	assert.True(t, exp.Equal(got.Expiry), "a 29-day expiry is trusted as it is: %v", got.Expiry)
	assert.Equal(t, tok.ExpiresIn, got.ExpiresIn)
}

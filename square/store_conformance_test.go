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

	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/square/squaretest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// The store conformance suite, with Square-shaped tokens, on the memory,
// file and sealed stores: every field and extra survives, and the long
// lifetime changes none of the rules.
func TestSquareTokensStoreConformance(t *testing.T) {
	t.Run("Memory", func(t *testing.T) {
		storetest.Run(t, storetest.Harness{Token: squaretest.Token,
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
		storetest.Run(t, storetest.Harness{Token: squaretest.Token,
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
		storetest.Run(t, storetest.Harness{Token: squaretest.Token,
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
	tok := squaretest.Token("sq1", exp)
	require.NoError(t, s.Save(t.Context(), "M", tok))
	got, err := s.Load(t.Context(), "M")
	require.NoError(t, err)
	assert.Equal(t, "MLsq1", got.Extra(square.ExtraMerchantID))
	assert.True(t, exp.Equal(got.Expiry), "a 29-day expiry is trusted as it is: %v", got.Expiry)
	assert.Equal(t, tok.ExpiresIn, got.ExpiresIn)
}

package tokenstore_test

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

func TestLeaseMemory(t *testing.T) { storetest.Lease(t, tokenstore.NewMemory(), nil) }

func TestLeaseFile(t *testing.T) {
	dir := t.TempDir()
	s, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	storetest.Lease(t, s, nil)
	storetest.Lease(t, s, func() func() {
		// The lock file removed while held: another process would lock a
		// new one.
		locks, err := filepath.Glob(filepath.Join(dir, "*.lock"))
		require.NoError(t, err)
		for _, p := range locks {
			if filepath.Base(p) != ".write.lock" {
				require.NoError(t, os.Remove(p))
			}
		}
		return nil
	})
}

func TestLeaseSealKeepsLeaseLocker(t *testing.T) {
	secret := make([]byte, tokenstore.SealKeySize)
	_, err := rand.Read(secret)
	require.NoError(t, err)
	key := tokenstore.SealKey{ID: "k", Secret: secret}
	s, err := tokenstore.Seal(tokenstore.NewMemory(), key)
	require.NoError(t, err)
	storetest.Lease(t, s, nil)
	f, err := tokenstore.NewFile(t.TempDir())
	require.NoError(t, err)
	s, err = tokenstore.Seal(f, key)
	require.NoError(t, err)
	storetest.Lease(t, s, nil)
	_, isLister := s.(ucoauth.Lister)
	assert.True(t, isLister)
}

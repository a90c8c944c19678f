package tokenstore_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
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

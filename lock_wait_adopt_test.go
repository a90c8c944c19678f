package ucoauth_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/fleet"
	"github.com/ucoauth/go-ucoauth/tokenstore"
)

// TestLockWaiterAdoptsTheHoldersToken: a source whose token expired waits
// for the refresh lock that another process holds; that process saves a
// fresh token and keeps the lock. The waiter adopts the saved token without
// the lock and without a token request, as its look before locking would
// have. Before, every waiter of a fleet took the lock in turn only to read
// the holder's token: on 2 loaded cores 8 processes took 2 s to file
// through, and callers of TestSQLFleetPostgres saw their waits run out.
func TestLockWaiterAdoptsTheHoldersToken(t *testing.T) {
	t.Run("memory", func(t *testing.T) { fleet.WaiterAdopts(t, tokenstore.NewMemory()) })
	t.Run("file", func(t *testing.T) {
		store, err := tokenstore.NewFile(t.TempDir())
		require.NoError(t, err)
		fleet.WaiterAdopts(t, store)
	})
}

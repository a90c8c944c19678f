package sqlstore_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// A session lock whose session is killed right after the grant, before
// the settings that keep it are made, is a lost lock: ErrLockLost, which
// takes the retry path, not a plain store error (seen under load in
// TestSQLLockKilledMidRefreshPostgres, when the kill landed there).
func TestSQLLockKilledAtItsGrantIsLost(t *testing.T) {
	for _, kind := range []string{"postgres", "mariadb"} {
		t.Run(kind, func(t *testing.T) {
			_, db, store, _, _ := lostSetup(t, kind)
			kill := "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"
			killed := 0
			restore := sqlstore.SetAfterGrant(func() {
				if kind == "postgres" {
					require.NoError(t, db.QueryRowContext(t.Context(), kill).Scan(&killed))
					return
				}
				rows, err := db.QueryContext(t.Context(), "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND = 'Sleep'")
				require.NoError(t, err)
				var ids []int64
				for rows.Next() {
					var id int64
					require.NoError(t, rows.Scan(&id))
					ids = append(ids, id)
				}
				require.NoError(t, rows.Close())
				for _, id := range ids {
					if _, err := db.ExecContext(t.Context(), "KILL ?", id); err == nil {
						killed++
					}
				}
			})
			defer restore()
			lease, err := store.LockLease(t.Context(), "DEMO")
			restore()
			require.Positive(t, killed, "the lock's session was killed at its grant")
			if lease != nil {
				lease.Release()
			}
			require.Error(t, err, "a lock whose session died at its grant is not handed out")
			assert.ErrorIs(t, err, ucoauth.ErrLockLost)
			// The lock is free again: the next lock is granted.
			l2, err := store.LockLease(t.Context(), "DEMO")
			require.NoError(t, err)
			require.NotNil(t, l2)
			assert.NoError(t, l2.Keep(t.Context()))
			l2.Release()
		})
	}
}

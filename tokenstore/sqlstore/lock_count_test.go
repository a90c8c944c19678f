package sqlstore

import (
	"context"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/testservers/sqltest"
)

// A session that holds its lock twice (PostgreSQL grants a lock to a wait
// that lock_timeout is cancelling, and the next try takes it again; both
// engines count session locks) must not go back to the pool holding it
// after one release: every other holder would then wait for as long as the
// pool keeps that session (storetest's LockMutualExclusion hung 6 minutes
// on a loaded machine). Release checks the session and closes one that
// still holds the lock.
func TestSQLReleaseLeavesNoCountedLock(t *testing.T) {
	for _, c := range []struct {
		name    string
		server  func(testing.TB) *sqltest.Server
		dialect Dialect
		again   string
	}{
		{"Postgres", sqltest.Postgres, Postgres, "SELECT pg_advisory_lock($1)"},
		{"MariaDB", sqltest.MariaDB, MySQL, "SELECT GET_LOCK(?, 0)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := c.server(t)
			open := func(opts ...Option) *Store {
				db, err := srv.Open()
				require.NoError(t, err)
				t.Cleanup(func() { db.Close() })
				s, err := New(t.Context(), db, c.dialect, opts...)
				require.NoError(t, err)
				return s
			}
			a := open(WithTable("count_" + time.Now().Format("150405") + c.name))
			b, err := New(t.Context(), a.db, c.dialect, WithTable(a.table), WithExistingTable())
			require.NoError(t, err)
			other := open(WithTable(a.table), WithExistingTable()) // another pool

			for range 3 { // the pooled session would be reused
				lease, err := a.LockLease(t.Context(), "m")
				require.NoError(t, err)
				sl := lease.(*sessionLease)
				var void any
				require.NoError(t, sl.conn.QueryRowContext(t.Context(), c.again, sl.arg).Scan(&void), "the session takes its lock a second time")
				lease.Release()

				ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
				unlock, err := other.Lock(ctx, "m")
				cancel()
				if assert.NoError(t, err, "another pool gets the lock once it was released") {
					unlock()
				}
				// And the first pool's next lock is not taken by a session
				// that still holds it from before.
				unlock, err = b.Lock(t.Context(), "m")
				require.NoError(t, err)
				unlock()
			}
		})
	}
}

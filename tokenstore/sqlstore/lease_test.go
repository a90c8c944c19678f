package sqlstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
)

func TestLeaseSQL(t *testing.T) {
	for name, newEnv := range map[string]func(testing.TB) sqlEnv{"sqlite": sqliteEnv, "postgres": postgresEnv, "mariadb": mariadbEnv} {
		t.Run(name, func(t *testing.T) {
			env := newEnv(t)
			dsn := env.newDSN(t)
			db := env.open(t, dsn)
			table := uniqueTable("lease")
			s, err := sqlstore.New(t.Context(), db, env.dialect, sqlstore.WithTable(table))
			require.NoError(t, err)
			storetest.Lease(t, s, nil)
			storetest.Lease(t, s, func() func() {
				switch env.dialect {
				case sqlstore.SQLite: // the lease expired and another holder took it
					_, err := db.ExecContext(t.Context(), "UPDATE "+table+"_locks SET owner = x'00'")
					require.NoError(t, err)
					return func() {
						_, err := db.ExecContext(t.Context(), "DELETE FROM "+table+"_locks")
						require.NoError(t, err)
					}
				case sqlstore.Postgres: // the lock's session killed
					var n int
					require.NoError(t, db.QueryRowContext(t.Context(), "SELECT count(pg_terminate_backend(pid)) FROM pg_locks "+
						"WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()").Scan(&n))
					require.Equal(t, 1, n)
				case sqlstore.MySQL: // every other session of this pool killed, the lock's among them
					conn, err := db.Conn(t.Context())
					require.NoError(t, err)
					defer conn.Close()
					rows, err := conn.QueryContext(t.Context(), "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Daemon' AND DB = DATABASE()")
					require.NoError(t, err)
					var ids []string
					for rows.Next() {
						var id string
						require.NoError(t, rows.Scan(&id))
						ids = append(ids, id)
					}
					require.NoError(t, rows.Close())
					for _, id := range ids {
						_, _ = conn.ExecContext(t.Context(), "KILL "+id)
					}
				}
				return nil
			})
		})
	}
}

// TestInvalidUTF8KeysRefused: a key JSON cannot keep is refused up front,
// with ErrInvalidKey, by every operation (SQLite: no server needed).
func TestInvalidUTF8KeysRefused(t *testing.T) {
	env := sqliteEnv(t)
	db := env.open(t, env.newDSN(t))
	s, err := sqlstore.New(t.Context(), db, sqlstore.SQLite, sqlstore.WithTable(uniqueTable("utf8")))
	require.NoError(t, err)
	storetest.RefusesInvalidKeys(t, s)
}

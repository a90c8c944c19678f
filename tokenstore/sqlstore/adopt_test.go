package sqlstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/fleet"
	"github.com/ucoauth/go-ucoauth/internal/testservers/sqltest"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
)

// TestLockWaiterAdoptsTheHoldersToken runs fleet.WaiterAdopts on
// PostgreSQL and MariaDB: a source waiting for the lock adopts the token
// its holder saved, without the lock and without a token request.
func TestLockWaiterAdoptsTheHoldersToken(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) (*sqltest.Server, sqlstore.Dialect){
		"postgres": func(t *testing.T) (*sqltest.Server, sqlstore.Dialect) {
			return sqltest.NewPostgres(t), sqlstore.Postgres
		},
		"mariadb": func(t *testing.T) (*sqltest.Server, sqlstore.Dialect) { return sqltest.NewMariaDB(t), sqlstore.MySQL },
	} {
		t.Run(name, func(t *testing.T) {
			srv, d := open(t)
			db, err := srv.Open()
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			store, err := sqlstore.New(t.Context(), db, d, sqlstore.WithTable("lockwait_tokens"))
			require.NoError(t, err)
			fleet.WaiterAdopts(t, store)
		})
	}
}

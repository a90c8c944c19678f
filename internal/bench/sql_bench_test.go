package bench

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/testservers/sqltest"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
)

// sqlStores opens one SQL store per dialect whose database is available:
// SQLite always, PostgreSQL and MariaDB when installed (each started for
// this benchmark and stopped after it).
func sqlStores(b *testing.B) map[string]*sqlstore.Store {
	stores := map[string]*sqlstore.Store{}
	open := func(name string, db *sql.DB, d sqlstore.Dialect) {
		b.Cleanup(func() { db.Close() })
		s, err := sqlstore.New(b.Context(), db, d)
		require.NoError(b, err)
		stores[name] = s
	}
	db, err := sqltest.OpenSQLite(filepath.Join(b.TempDir(), "bench.db"))
	require.NoError(b, err)
	open("sqlite", db, sqlstore.SQLite)
	for _, srv := range []struct {
		name  string
		start func() (*sqltest.Server, error)
		d     sqlstore.Dialect
	}{{"postgres", sqltest.StartPostgres, sqlstore.Postgres}, {"mariadb", sqltest.StartMariaDB, sqlstore.MySQL}} {
		s, err := srv.start()
		if err != nil {
			b.Logf("%s: %v", srv.name, err)
			continue
		}
		b.Cleanup(s.Close)
		b.Logf("%s: %s", srv.name, s)
		db, err := s.Open()
		require.NoError(b, err)
		open(srv.name, db, srv.d)
	}
	return stores
}

// BenchmarkSQLLoad is scenario 7 for the SQL store: one Load (a primary-key
// SELECT and the JSON decode) per op, over a real socket for the servers.
func BenchmarkSQLLoad(b *testing.B) {
	stores := sqlStores(b)
	for _, name := range []string{"sqlite", "postgres", "mariadb"} {
		b.Run("dialect="+name, func(b *testing.B) {
			s := stores[name]
			if s == nil {
				b.Skipf("%s is not installed", name)
			}
			StoreLoad(b, s)
		})
	}
}

// BenchmarkSQLSave is one compare-and-set Save (SELECT, merge, UPDATE on
// the revision) of an ever newer token per op.
func BenchmarkSQLSave(b *testing.B) {
	stores := sqlStores(b)
	for _, name := range []string{"sqlite", "postgres", "mariadb"} {
		b.Run("dialect="+name, func(b *testing.B) {
			s := stores[name]
			if s == nil {
				b.Skipf("%s is not installed", name)
			}
			StoreSave(b, s)
		})
	}
}

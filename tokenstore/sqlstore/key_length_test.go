package sqlstore_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/ucoauth/go-ucoauth/internal/testservers/sqltest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
)

// testHugeKey: a key far beyond any index limit, with a NUL, round-trips
// exactly through Save, Load and Keys (Reseal and the command list keys).
func testHugeKey(t *testing.T, env sqlEnv, db *sql.DB) {
	s, err := sqlstore.New(t.Context(), db, env.dialect, sqlstore.WithTable(uniqueTable("huge")))
	require.NoError(t, err)
	key := "m\x00" + strings.Repeat("ü", 40<<10) // 80 KiB
	exp := time.Now().Add(time.Hour)
	require.NoError(t, s.Save(t.Context(), key, storetest.Token("at-huge", exp)))
	got, err := s.Load(t.Context(), key)
	require.NoError(t, err)
	assert.Equal(t, "at-huge", got.AccessToken)
	keys, err := s.Keys(t.Context())
	require.NoError(t, err)
	require.Len(t, keys, 1)
	assert.True(t, keys[0] == key, "Keys returns the exact key (%d bytes, want %d)", len(keys[0]), len(key))

	// The lock's name is a digest: GET_LOCK's 64 characters and
	// PostgreSQL's bigint hold any key, and two keys differing only at the
	// end are two locks.
	unlock, err := s.Lock(t.Context(), key)
	require.NoError(t, err)
	defer unlock()
	other, err := s.Lock(t.Context(), key+"x")
	require.NoError(t, err, "a key one byte longer has its own lock")
	other()
	short, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err = s.Lock(short, key)
	require.Error(t, err, "the huge key's lock is held")
}

func TestSQLSQLiteHugeKey(t *testing.T) {
	env := sqliteEnv(t)
	testHugeKey(t, env, env.open(t, env.newDSN(t)))
}

func TestSQLPostgresHugeKey(t *testing.T) {
	env := postgresEnv(t)
	testHugeKey(t, env, env.open(t, ""))
}

func TestSQLMariaDBHugeKey(t *testing.T) {
	env := mariadbEnv(t)
	testHugeKey(t, env, env.open(t, ""))
}

// A MariaDB whose sql_mode is not strict truncates what does not fit.
func TestSQLMariaDBHugeKeyLaxMode(t *testing.T) {
	srv := sqltest.MariaDB(t)
	env := mariadbEnv(t)
	db, err := sql.Open(srv.Driver, srv.DSN+"?sql_mode=%27%27")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	var mode string
	require.NoError(t, db.QueryRow("SELECT @@SESSION.sql_mode").Scan(&mode))
	require.Equal(t, "", mode, "precondition: a lax session")
	testHugeKey(t, env, db)
}

// TestSQLMariaDBKeysRefusesATruncatedKey: a table made by a migration
// with a narrower store_key column, on a lax server, cuts a long key short.
// Keys says so instead of listing a key that loads nothing (Reseal would
// skip its record and report success).
func TestSQLMariaDBKeysRefusesATruncatedKey(t *testing.T) {
	srv := sqltest.MariaDB(t)
	db, err := sql.Open(srv.Driver, srv.DSN+"?sql_mode=%27%27")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	table := uniqueTable("narrow")
	ddl, err := sqlstore.Schema(sqlstore.MySQL, table)
	require.NoError(t, err)
	require.Len(t, ddl, 1)
	require.Contains(t, ddl[0], "store_key  MEDIUMBLOB")
	_, err = db.Exec(strings.Replace(ddl[0], "store_key  MEDIUMBLOB", "store_key  BLOB", 1))
	require.NoError(t, err)
	s, err := sqlstore.New(t.Context(), db, sqlstore.MySQL, sqlstore.WithTable(table), sqlstore.WithExistingTable())
	require.NoError(t, err)
	key := strings.Repeat("k", 70<<10)
	require.NoError(t, s.Save(t.Context(), key, storetest.Token("at", time.Now().Add(time.Hour))), "precondition: the lax server truncates without an error")
	_, err = s.Keys(t.Context())
	require.ErrorIs(t, err, tokenstore.ErrCorrupt)
	assert.ErrorContains(t, err, "does not match its key_hash")
}

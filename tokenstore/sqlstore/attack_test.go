package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ucoauth/go-ucoauth/internal/testservers/sqltest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
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

// testHolderConnectionKilled: the server kills the holder's session
// (pg_terminate_backend, KILL): the lock frees, and the holder's unlock
// neither hangs nor hands a broken session back to its pool. holderOf
// asks the server which session holds key "m"'s lock in table.
func testHolderConnectionKilled(t *testing.T, env sqlEnv, holderOf func(table string) (string, []any), kill string) {
	table := uniqueTable("killconn")
	holder, err := sqlstore.New(t.Context(), env.open(t, ""), env.dialect, sqlstore.WithTable(table))
	require.NoError(t, err)
	other, err := sqlstore.New(t.Context(), env.open(t, ""), env.dialect, sqlstore.WithTable(table))
	require.NoError(t, err)
	admin := env.open(t, "")

	unlock, err := holder.Lock(t.Context(), "m")
	require.NoError(t, err)
	var id int64
	q, args := holderOf(table)
	require.NoError(t, admin.QueryRow(q, args...).Scan(&id), "the server names the holder's session")

	short, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err = other.Lock(short, "m")
	require.Error(t, err, "precondition: the lock is held")

	_, err = admin.Exec(fmt.Sprintf(kill, id))
	require.NoError(t, err)

	c, cancel2 := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel2()
	u2, err := other.Lock(c, "m")
	require.NoError(t, err, "a killed session's lock frees")
	unlock() // must not hang or panic
	// the holder still works, on a fresh session
	require.NoError(t, holder.Save(t.Context(), "m", storetest.Token("at-after", time.Now().Add(time.Hour))))
	short2, cancel3 := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel3()
	_, err = holder.Lock(short2, "m")
	require.Error(t, err, "the other store holds it now; the holder's old unlock freed nothing")
	u2()
}

func TestSQLPostgresHolderConnectionKilled(t *testing.T) {
	testHolderConnectionKilled(t, postgresEnv(t), func(string) (string, []any) {
		// This package's tests run one at a time: one advisory lock is held.
		return "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted", nil
	}, "SELECT pg_terminate_backend(%d)")
}

func TestSQLMariaDBHolderConnectionKilled(t *testing.T) {
	testHolderConnectionKilled(t, mariadbEnv(t), func(table string) (string, []any) {
		// The lock's name: the table as the server resolves it (the
		// database of sqltest's DSN, "ucoauth", and the table), and the key.
		sum := sha256.Sum256([]byte("ucoauth\x00ucoauth." + table + "\x00m"))
		return "SELECT IS_USED_LOCK(?)", []any{"ucoauth_" + hex.EncodeToString(sum[:28])}
	}, "KILL %d")
}

// testSaveRacingDelete: saves and deletes of one key interleave without
// errors, and the last save is readable after the last delete.
func testSaveRacingDelete(t *testing.T, env sqlEnv) {
	dsn := env.newDSN(t)
	table := uniqueTable("race")
	a, err := sqlstore.New(t.Context(), env.open(t, dsn), env.dialect, sqlstore.WithTable(table))
	require.NoError(t, err)
	b, err := sqlstore.New(t.Context(), env.open(t, dsn), env.dialect, sqlstore.WithTable(table))
	require.NoError(t, err)
	base := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if i%3 == 0 {
				assert.NoError(t, b.Delete(t.Context(), "m"))
				return
			}
			err := a.Save(t.Context(), "m", storetest.Token(fmt.Sprintf("at-%d", i), base.Add(time.Duration(i)*time.Second)))
			if !errors.Is(err, ucoauth.ErrSuperseded) {
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.NoError(t, a.Save(t.Context(), "m", storetest.Token("last", base.Add(time.Hour))))
	got, err := b.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, "last", got.AccessToken)
}

func TestSQLSQLiteSaveRacingDelete(t *testing.T)   { testSaveRacingDelete(t, sqliteEnv(t)) }
func TestSQLPostgresSaveRacingDelete(t *testing.T) { testSaveRacingDelete(t, postgresEnv(t)) }
func TestSQLMariaDBSaveRacingDelete(t *testing.T)  { testSaveRacingDelete(t, mariadbEnv(t)) }

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

// TestSQLLibraryImportsNoDriver: the library leaves the choice of driver to
// its user: neither sqlstore, tokenstore nor ucoauth depends on one,
// directly or not.
func TestSQLLibraryImportsNoDriver(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps",
		"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore", "github.com/ucoauth/go-ucoauth/tokenstore", "github.com/ucoauth/go-ucoauth/ucoauth").Output()
	require.NoError(t, err)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "database/sql", "precondition: the list is the real one")
	for _, dep := range deps {
		for _, driver := range []string{"jackc/pgx", "lib/pq", "go-sql-driver/mysql", "modernc.org/sqlite", "mattn/go-sqlite3", "ziutek/mymysql"} {
			assert.NotContains(t, dep, driver, "the library imports a database driver")
		}
	}
}

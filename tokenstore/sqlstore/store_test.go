package sqlstore_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/record"
	"github.com/ucoauth/go-ucoauth/internal/testservers/sqltest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// sqlEnv is one database the SQL store is tested on.
type sqlEnv struct {
	dialect sqlstore.Dialect
	// open returns a new handle (its own pool, as another process has) on
	// the database named by dsn.
	open func(t testing.TB, dsn string) *sql.DB
	// openCuttable is open with connections that cut() kills, as the death
	// of their process would.
	openCuttable func(t testing.TB, dsn string) (db *sql.DB, cut func())
	// newDSN names a database for a new store: a new SQLite file, or the
	// server's one database (stores there are kept apart by table).
	newDSN func(t testing.TB) string
	server string
	driver string // database/sql driver name
}

var tableSeq atomic.Int64

// uniqueTable names a table no other test uses, even in another run
// against a long-lived server.
func uniqueTable(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano()%1e9, tableSeq.Add(1))
}

func sqliteEnv(t testing.TB) sqlEnv {
	return sqlEnv{
		dialect: sqlstore.SQLite,
		driver:  "sqlite",
		server:  "SQLite (modernc.org/sqlite), a file per store",
		newDSN: func(t testing.TB) string {
			return sqltest.SQLiteDSN(filepath.Join(t.TempDir(), "tokens.db"))
		},
		open: func(t testing.TB, dsn string) *sql.DB {
			db, err := sql.Open("sqlite", dsn)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db
		},
		openCuttable: func(t testing.TB, dsn string) (*sql.DB, func()) {
			db, err := sql.Open("sqlite", dsn)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db, func() { db.Close() }
		},
	}
}

func serverEnv(t testing.TB, srv *sqltest.Server, d sqlstore.Dialect) sqlEnv {
	return sqlEnv{
		dialect: d,
		driver:  srv.Driver,
		server:  srv.String(),
		newDSN:  func(testing.TB) string { return srv.DSN },
		open: func(t testing.TB, _ string) *sql.DB {
			db, err := srv.Open()
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db
		},
		openCuttable: func(t testing.TB, _ string) (*sql.DB, func()) {
			var mu sync.Mutex
			var conns []net.Conn
			var d net.Dialer
			db, err := srv.OpenDialed(func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := d.DialContext(ctx, network, addr)
				if err == nil {
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
				return c, err
			})
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db, func() {
				mu.Lock()
				defer mu.Unlock()
				for _, c := range conns {
					_ = c.Close()
				}
			}
		},
	}
}

func postgresEnv(t testing.TB) sqlEnv {
	return serverEnv(t, sqltest.Postgres(t), sqlstore.Postgres)
}

func mariadbEnv(t testing.TB) sqlEnv {
	return serverEnv(t, sqltest.MariaDB(t), sqlstore.MySQL)
}

// sqlStore is a store with what the harness needs to make its peers.
type sqlStore struct {
	*sqlstore.Store
	dsn string
	cut func() // kills this handle's connections; nil for the first handle
}

// runSQLConformance runs storetest with a second *sql.DB as the Peer, and
// an Abandon that cuts the peer's connections as the death of its process
// would (for SQLite, closes its handle and lets the lease run out).
func runSQLConformance(t *testing.T, env sqlEnv) {
	t.Logf("database: %s", env.server)
	const leaseTTL = 3 * time.Second // generous: a loaded machine can stall a holder for long
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) ucoauth.TokenStore {
			dsn := env.newDSN(t)
			s, err := sqlstore.New(t.Context(), env.open(t, dsn), env.dialect,
				sqlstore.WithTable(uniqueTable("conf")), sqlstore.WithLeaseTTL(leaseTTL))
			require.NoError(t, err)
			return &sqlStore{Store: s, dsn: dsn}
		},
		Peer: func(t *testing.T, s ucoauth.TokenStore) ucoauth.TokenStore {
			first := s.(*sqlStore)
			db, cut := env.openCuttable(t, first.dsn)
			peer, err := sqlstore.New(t.Context(), db, env.dialect,
				sqlstore.WithTable(sqlstore.TableName(first.Store)), sqlstore.WithLeaseTTL(leaseTTL), sqlstore.WithExistingTable())
			require.NoError(t, err)
			return &sqlStore{Store: peer, dsn: first.dsn, cut: cut}
		},
		Plant: func(t *testing.T, s ucoauth.TokenStore, key string, raw []byte) {
			require.NoError(t, sqlstore.Plant(t.Context(), s.(*sqlStore).Store, key, raw))
		},
		Abandon: func(t *testing.T, s ucoauth.TokenStore) {
			s.(*sqlStore).cut()
		},
		LockTTL: leaseTTL,
	})
}

func TestSQLSQLiteConformance(t *testing.T)   { runSQLConformance(t, sqliteEnv(t)) }
func TestSQLPostgresConformance(t *testing.T) { runSQLConformance(t, postgresEnv(t)) }
func TestSQLMariaDBConformance(t *testing.T)  { runSQLConformance(t, mariadbEnv(t)) }

// ---- a lock holder's process dies ------------------------------------------

const (
	envLockChild   = "UCOAUTH_SQL_LOCK_CHILD"
	envLockDSN     = "UCOAUTH_SQL_LOCK_DSN"
	envLockTable   = "UCOAUTH_SQL_LOCK_TABLE"
	envLockDriver  = "UCOAUTH_SQL_LOCK_DRIVER"
	childLeaseTTL  = time.Second
	childLockedMsg = "LOCKED"
)

// lockChild takes the lock and waits to be killed.
func lockChild(t *testing.T, d sqlstore.Dialect) {
	db, err := sql.Open(os.Getenv(envLockDriver), os.Getenv(envLockDSN))
	require.NoError(t, err)
	defer db.Close()
	s, err := sqlstore.New(t.Context(), db, d,
		sqlstore.WithTable(os.Getenv(envLockTable)), sqlstore.WithExistingTable(), sqlstore.WithLeaseTTL(childLeaseTTL))
	require.NoError(t, err)
	_, err = s.Lock(t.Context(), "m")
	require.NoError(t, err)
	fmt.Println(childLockedMsg)
	time.Sleep(2 * time.Minute) // SIGKILLed long before this ends
}

// testLockFreedWhenProcessKilled has a child process (this test binary)
// take key "m"'s lock, checks that it excludes this process, SIGKILLs the
// child and checks that the lock frees.
func testLockFreedWhenProcessKilled(t *testing.T, d sqlstore.Dialect, newEnv func(testing.TB) sqlEnv, testName string) {
	if os.Getenv(envLockChild) != "" {
		lockChild(t, d)
		return
	}
	env := newEnv(t)
	dsn := env.newDSN(t)
	table := uniqueTable("kill")
	s, err := sqlstore.New(t.Context(), env.open(t, dsn), env.dialect,
		sqlstore.WithTable(table), sqlstore.WithLeaseTTL(childLeaseTTL))
	require.NoError(t, err)

	cmd := exec.Command(os.Args[0], "-test.run=^"+testName+"$")
	cmd.Env = append(os.Environ(), envLockChild+"=1", envLockDSN+"="+dsn, envLockDriver+"="+env.driver, envLockTable+"="+table)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "the child reports")
	require.Equal(t, childLockedMsg, strings.TrimSpace(line))

	short, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = s.Lock(short, "m")
	require.Error(t, err, "the child process holds the lock")

	require.NoError(t, cmd.Process.Kill()) // SIGKILL: no unlock, no clean disconnect
	_ = cmd.Wait()
	killed = true

	c, cancel2 := context.WithTimeout(t.Context(), 30*time.Second) // bounds a hang only
	defer cancel2()
	unlock, err := s.Lock(c, "m")
	require.NoError(t, err, "the killed process's lock frees")
	unlock()
}

func TestSQLSQLiteLockFreedWhenProcessKilled(t *testing.T) {
	testLockFreedWhenProcessKilled(t, sqlstore.SQLite, sqliteEnv, "TestSQLSQLiteLockFreedWhenProcessKilled")
}

func TestSQLPostgresLockFreedWhenProcessKilled(t *testing.T) {
	testLockFreedWhenProcessKilled(t, sqlstore.Postgres, postgresEnv, "TestSQLPostgresLockFreedWhenProcessKilled")
}

func TestSQLMariaDBLockFreedWhenProcessKilled(t *testing.T) {
	testLockFreedWhenProcessKilled(t, sqlstore.MySQL, mariadbEnv, "TestSQLMariaDBLockFreedWhenProcessKilled")
}

// ---- layout ------------------------------------------------------------------

// testLayout checks the row a save writes: digest, exact key, the same
// versioned JSON record as the other stores, expiry and revision columns.
func testLayout(t *testing.T, env sqlEnv) {
	ctx := t.Context()
	dsn := env.newDSN(t)
	db := env.open(t, dsn)
	table := uniqueTable("layout")
	s, err := sqlstore.New(ctx, db, env.dialect, sqlstore.WithTable(table))
	require.NoError(t, err)
	exp := time.Now().Add(time.Hour).Round(time.Millisecond)
	key := "nul\x00key-ünï"
	require.NoError(t, s.Save(ctx, key, storetest.Token("at-1", exp)))
	require.NoError(t, s.Save(ctx, key, storetest.Token("at-2", exp.Add(time.Minute))))

	var storedKey, rec []byte
	var expiryMS, rev int64
	q := "SELECT store_key, record, expiry_ms, revision FROM " + table
	require.NoError(t, db.QueryRowContext(ctx, q).Scan(&storedKey, &rec, &expiryMS, &rev))
	assert.Equal(t, key, string(storedKey), "the exact key, NUL included")
	assert.Contains(t, string(rec), `"version":1`, "the same versioned JSON as the file and Redis stores")
	tok, err := record.Unmarshal(key, rec)
	require.NoError(t, err)
	assert.Equal(t, "at-2", tok.AccessToken)
	assert.Equal(t, exp.Add(time.Minute).UnixMilli(), expiryMS)
	assert.Equal(t, int64(2), rev, "each save bumps the revision")

	// A token without an expiry has 0 there.
	noExp := storetest.Token("no-exp", time.Time{})
	require.NoError(t, s.Save(ctx, "no-exp", noExp))
	require.NoError(t, db.QueryRowContext(ctx, "SELECT expiry_ms FROM "+table+" WHERE revision = 1").Scan(&expiryMS))
	assert.Zero(t, expiryMS)
}

func TestSQLSQLiteLayout(t *testing.T)   { testLayout(t, sqliteEnv(t)) }
func TestSQLPostgresLayout(t *testing.T) { testLayout(t, postgresEnv(t)) }
func TestSQLMariaDBLayout(t *testing.T)  { testLayout(t, mariadbEnv(t)) }

// ---- table creation and names ------------------------------------------------

// testTableSetup covers WithExistingTable, SQLSchema and concurrent
// creation by several processes' handles at once.
func testTableSetup(t *testing.T, env sqlEnv) {
	ctx := t.Context()
	dsn := env.newDSN(t)
	db := env.open(t, dsn)
	table := uniqueTable("mig")

	_, err := sqlstore.New(ctx, db, env.dialect, sqlstore.WithTable(table), sqlstore.WithExistingTable())
	require.ErrorIs(t, err, sqlstore.ErrInvalidTable, "a missing table is an error when migrations own it")
	assert.Contains(t, err.Error(), table)

	ddl, err := sqlstore.Schema(env.dialect, table)
	require.NoError(t, err)
	for _, stmt := range ddl {
		_, err := db.ExecContext(ctx, stmt)
		require.NoError(t, err, "the documented DDL runs as is")
	}
	s, err := sqlstore.New(ctx, db, env.dialect, sqlstore.WithTable(table), sqlstore.WithExistingTable())
	require.NoError(t, err, "the table the DDL made is usable")
	require.NoError(t, s.Save(ctx, "m", storetest.Token("at", time.Now().Add(time.Hour))))

	// A fleet starting at once: every instance creates the table.
	table2 := uniqueTable("race")
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		h := env.open(t, dsn)
		wg.Go(func() {
			_, errs[i] = sqlstore.New(ctx, h, env.dialect, sqlstore.WithTable(table2))
		})
	}
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "instance %d", i)
	}
}

func TestSQLSQLiteTableSetup(t *testing.T)   { testTableSetup(t, sqliteEnv(t)) }
func TestSQLPostgresTableSetup(t *testing.T) { testTableSetup(t, postgresEnv(t)) }
func TestSQLMariaDBTableSetup(t *testing.T)  { testTableSetup(t, mariadbEnv(t)) }

func TestSQLSQLiteTableNames(t *testing.T) {
	db, err := sqltest.OpenSQLite(filepath.Join(t.TempDir(), "t.db"))
	require.NoError(t, err)
	defer db.Close()
	for _, bad := range []string{"", "1abc", "a-b", "a b", `a"b`, "a`b", "a;DROP TABLE x", "a.b.c", ".a", "a.",
		strings.Repeat("x", 58), "tökens", "a\x00b"} {
		_, err := sqlstore.New(t.Context(), db, sqlstore.SQLite, sqlstore.WithTable(bad))
		assert.ErrorIs(t, err, sqlstore.ErrInvalidTable, "table %q", bad)
		_, err = sqlstore.Schema(sqlstore.SQLite, bad)
		if bad != "" { // "" means the default there
			assert.ErrorIs(t, err, sqlstore.ErrInvalidTable, "table %q", bad)
		}
	}
	for _, good := range []string{"tokens", "_t", "Mixed_Case9", strings.Repeat("x", 57), "main.tokens", "select"} {
		s, err := sqlstore.New(t.Context(), db, sqlstore.SQLite, sqlstore.WithTable(good))
		if assert.NoError(t, err, "table %q", good) {
			assert.NoError(t, s.Save(t.Context(), "m", storetest.Token("at", time.Now().Add(time.Hour))), "table %q", good)
		}
	}
	_, err = sqlstore.New(t.Context(), db, sqlstore.Dialect(7))
	assert.Error(t, err, "an unknown dialect")
	_, err = sqlstore.New(t.Context(), nil, sqlstore.SQLite)
	assert.Error(t, err, "a nil *sql.DB")
}

// FuzzSQLTableName: a name WithTable accepts yields statements in which it
// appears only quoted, and SQLite can create and use that table.
func FuzzSQLTableName(f *testing.F) {
	for _, s := range []string{"tokens", "a.b", `x"; DROP TABLE y; --`, "a`b", "1a", "", "main.t", "a\x00", "ü", "a..b"} {
		f.Add(s)
	}
	db, err := sqltest.OpenSQLite(filepath.Join(f.TempDir(), "fuzz.db"))
	require.NoError(f, err)
	f.Cleanup(func() { db.Close() })
	f.Fuzz(func(t *testing.T, name string) {
		ddl, err := sqlstore.Schema(sqlstore.SQLite, name)
		if err != nil {
			require.ErrorIs(t, err, sqlstore.ErrInvalidTable)
			return
		}
		if name == "" {
			name = sqlstore.DefaultTable
		}
		for _, r := range name {
			require.True(t, r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z', "accepted %q", name)
		}
		require.NotEmpty(t, ddl)
		s, err := sqlstore.New(t.Context(), db, sqlstore.SQLite, sqlstore.WithTable(name))
		schema, _, qualified := strings.Cut(strings.ToLower(name), ".")
		if qualified && schema != "main" && schema != "temp" {
			require.Error(t, err, "no such schema")
			return
		}
		require.NoError(t, err)
		require.NoError(t, s.Save(t.Context(), "m", storetest.Token("at", time.Now().Add(time.Hour))))
	})
}

// ---- SQLite lease ------------------------------------------------------------

// TestSQLSQLiteUnlockOnlyByOwner: a holder whose lease expired cannot
// release its successor's.
func TestSQLSQLiteUnlockOnlyByOwner(t *testing.T) {
	db, err := sqltest.OpenSQLite(filepath.Join(t.TempDir(), "t.db"))
	require.NoError(t, err)
	defer db.Close()
	s, err := sqlstore.New(t.Context(), db, sqlstore.SQLite, sqlstore.WithLeaseTTL(200*time.Millisecond))
	require.NoError(t, err)
	unlockA, err := s.Lock(t.Context(), "m")
	require.NoError(t, err)
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second) // bounds a hang only
	defer cancel()
	unlockB, err := s.Lock(c, "m") // waits for A's lease to run out
	require.NoError(t, err)
	unlockA() // late: must not release B's lease
	short, cancel2 := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel2()
	_, err = s.Lock(short, "m")
	assert.Error(t, err, "A's late unlock released B's lease")
	unlockB()
	again, err := s.Lock(c, "m")
	require.NoError(t, err)
	again()
}

// TestSQLSQLiteDefaultLeaseOutlivesRefresh: the lease written by default
// lasts DefaultLockTTL.
func TestSQLSQLiteDefaultLeaseOutlivesRefresh(t *testing.T) {
	db, err := sqltest.OpenSQLite(filepath.Join(t.TempDir(), "t.db"))
	require.NoError(t, err)
	defer db.Close()
	s, err := sqlstore.New(t.Context(), db, sqlstore.SQLite)
	require.NoError(t, err)
	before := time.Now()
	unlock, err := s.Lock(t.Context(), "m")
	require.NoError(t, err)
	var exp int64
	require.NoError(t, db.QueryRow("SELECT expires_ms FROM ucoauth_tokens_locks").Scan(&exp))
	assert.GreaterOrEqual(t, exp, before.Add(sqlstore.DefaultLockTTL).UnixMilli())
	unlock()
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM ucoauth_tokens_locks").Scan(&n))
	assert.Zero(t, n, "unlock deletes the lease")
}

// ---- errors keep secrets -----------------------------------------------------

// TestSQLSQLiteCorruptRecord: a corrupt row is ErrCorrupt, its secrets stay
// out of the error, and only a real token replaces it.
func TestSQLSQLiteCorruptRecord(t *testing.T) {
	db, err := sqltest.OpenSQLite(filepath.Join(t.TempDir(), "t.db"))
	require.NoError(t, err)
	defer db.Close()
	ctx := t.Context()
	s, err := sqlstore.New(ctx, db, sqlstore.SQLite)
	require.NoError(t, err)
	require.NoError(t, s.Save(ctx, "m", storetest.Token("at", time.Now().Add(time.Hour))))
	_, err = db.ExecContext(ctx, `UPDATE ucoauth_tokens SET record = CAST('{"access_token":"SECRET-AT","refresh_token":"SECRET-RT"' AS BLOB)`)
	require.NoError(t, err)
	_, err = s.Load(ctx, "m")
	require.ErrorIs(t, err, tokenstore.ErrCorrupt)
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", err, err, err), "SECRET")

	assert.ErrorIs(t, s.Save(ctx, "m", nil), tokenstore.ErrInvalidToken)
	_, err = s.Load(ctx, "m")
	assert.ErrorIs(t, err, tokenstore.ErrCorrupt, "still the corrupt record, not an empty token")
	require.NoError(t, s.Save(ctx, "m", storetest.Token("fresh", time.Now().Add(time.Hour))))
	got, err := s.Load(ctx, "m")
	require.NoError(t, err)
	assert.Equal(t, "fresh", got.AccessToken)
}

// testLockNearDeadline: a waiter whose context is about to end when it
// starts waiting must fail, never be told it holds a lock another holds.
func testLockNearDeadline(t *testing.T, env sqlEnv) {
	dsn := env.newDSN(t)
	table := uniqueTable("near")
	s, err := sqlstore.New(t.Context(), env.open(t, dsn), env.dialect, sqlstore.WithTable(table))
	require.NoError(t, err)
	peer, err := sqlstore.New(t.Context(), env.open(t, dsn), env.dialect, sqlstore.WithTable(table))
	require.NoError(t, err)
	unlock, err := s.Lock(t.Context(), "m")
	require.NoError(t, err)
	defer unlock()
	granted := 0
	for i := range 100 {
		c, cancel := context.WithTimeout(t.Context(), time.Duration(50+i*20)*time.Microsecond)
		if u, err := peer.Lock(c, "m"); err == nil {
			granted++
			u()
		}
		cancel()
	}
	assert.Zero(t, granted, "a held lock was granted to a waiter at its deadline")
}

func TestSQLSQLiteLockNearDeadline(t *testing.T)   { testLockNearDeadline(t, sqliteEnv(t)) }
func TestSQLPostgresLockNearDeadline(t *testing.T) { testLockNearDeadline(t, postgresEnv(t)) }
func TestSQLMariaDBLockNearDeadline(t *testing.T)  { testLockNearDeadline(t, mariadbEnv(t)) }

// TestSQLPostgresLockWaitKeepsSessionSettings: a waiter that sat through a
// lock_timeout slice and then got the lock leaves its pooled session's
// lock_timeout as it found it.
func TestSQLPostgresLockWaitKeepsSessionSettings(t *testing.T) {
	env := postgresEnv(t)
	table := uniqueTable("slice")
	s, err := sqlstore.New(t.Context(), env.open(t, ""), env.dialect, sqlstore.WithTable(table))
	require.NoError(t, err)
	one := env.open(t, "")
	one.SetMaxOpenConns(2) // the waiter's session is one of the two checked below
	peer, err := sqlstore.New(t.Context(), one, env.dialect, sqlstore.WithTable(table))
	require.NoError(t, err)

	unlock, err := s.Lock(t.Context(), "m")
	require.NoError(t, err)
	go func() { time.Sleep(1200 * time.Millisecond); unlock() }() // past two slices
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second) // bounds a hang only
	defer cancel()
	start := time.Now()
	u, err := peer.Lock(c, "m")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "precondition: the waiter sat through lock_timeout slices")
	u()
	// Both sessions the pool may hold, at once: the waiter's is one of them.
	conns := make([]*sql.Conn, 2)
	for i := range conns {
		conns[i], err = one.Conn(t.Context())
		require.NoError(t, err)
		defer conns[i].Close()
	}
	for i, conn := range conns {
		var lt string
		require.NoError(t, conn.QueryRowContext(t.Context(), "SHOW lock_timeout").Scan(&lt))
		assert.Equal(t, "0", lt, "session %d's lock_timeout is untouched", i)
	}
}

// TestSQLSQLiteRetriesBusy: handles opened without a busy timeout (SQLite
// answers "database is locked" at once) still save concurrently without
// errors, because the store retries.
func TestSQLSQLiteRetriesBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain.db")
	var stores []*sqlstore.Store
	for range 2 {
		db, err := sql.Open("sqlite", "file:"+path) // no busy_timeout, no WAL
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		s, err := sqlstore.New(t.Context(), db, sqlstore.SQLite)
		require.NoError(t, err)
		stores = append(stores, s)
	}
	base := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			err := stores[i%2].Save(t.Context(), fmt.Sprintf("m%d", i%4), storetest.Token(fmt.Sprintf("at-%d", i), base.Add(time.Duration(i)*time.Second)))
			if err != nil && !errors.Is(err, ucoauth.ErrSuperseded) {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	keys, err := stores[1].Keys(t.Context())
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"m0", "m1", "m2", "m3"}, keys)
}

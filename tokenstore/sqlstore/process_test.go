package sqlstore_test

import (
	"database/sql"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
)

// Mutual exclusion across OS processes: several processes, each with its
// own *sql.DB, increment a counter kept in the store itself (the access
// token "n-N", with an expiry that grows with N) under the store's lock,
// with a pause between the read and the write. A lock that let two holders
// in at once would lose an increment; the final count proves none was.

const (
	envCounterChild = "UCOAUTH_SQL_COUNTER_CHILD"
	counterProcs    = 3
	counterRounds   = 15
	counterKey      = "counted"
)

var counterBase = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

func counterToken(n int) string { return "n-" + strconv.Itoa(n) }

// counterChild increments the counter counterRounds times under the lock.
func counterChild(t *testing.T, d sqlstore.Dialect) {
	db, err := sql.Open(os.Getenv(envLockDriver), os.Getenv(envLockDSN))
	require.NoError(t, err)
	defer db.Close()
	s, err := sqlstore.New(t.Context(), db, d, sqlstore.WithTable(os.Getenv(envLockTable)), sqlstore.WithExistingTable())
	require.NoError(t, err)
	for range counterRounds {
		unlock, err := s.Lock(t.Context(), counterKey)
		require.NoError(t, err)
		tok, err := s.Load(t.Context(), counterKey)
		require.NoError(t, err)
		n, err := strconv.Atoi(strings.TrimPrefix(tok.AccessToken, "n-"))
		require.NoError(t, err)
		time.Sleep(3 * time.Millisecond) // widen the window a second holder would hit
		// The expiry is far in the future on purpose: the store's bound on
		// stored expiries must not matter here, only the order of saves.
		next := storetest.Token(counterToken(n+1), time.Now().Add(time.Hour).Add(time.Duration(n+1)*time.Second))
		require.NoError(t, s.Save(t.Context(), counterKey, next))
		unlock()
	}
}

func testLockExcludesProcesses(t *testing.T, d sqlstore.Dialect, newEnv func(testing.TB) sqlEnv, testName string) {
	if os.Getenv(envCounterChild) != "" {
		counterChild(t, d)
		return
	}
	env := newEnv(t)
	dsn := env.newDSN(t)
	table := uniqueTable("count")
	s, err := sqlstore.New(t.Context(), env.open(t, dsn), env.dialect, sqlstore.WithTable(table))
	require.NoError(t, err)
	require.NoError(t, s.Save(t.Context(), counterKey, storetest.Token(counterToken(0), time.Now().Add(time.Hour))))

	cmds := make([]*exec.Cmd, counterProcs)
	outs := make([]*strings.Builder, counterProcs)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^"+testName+"$")
		cmd.Env = append(os.Environ(), envCounterChild+"=1", envLockDSN+"="+dsn, envLockDriver+"="+env.driver, envLockTable+"="+table)
		outs[i] = &strings.Builder{}
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		require.NoError(t, cmd.Start())
		cmds[i] = cmd
	}
	for i, cmd := range cmds {
		assert.NoError(t, cmd.Wait(), "process %d:\n%s", i, outs[i])
	}

	tok, err := s.Load(t.Context(), counterKey)
	require.NoError(t, err)
	assert.Equal(t, counterToken(counterProcs*counterRounds), tok.AccessToken,
		"%d processes x %d increments under the lock on %s: every one counted", counterProcs, counterRounds, env.server)
	t.Logf("%s: %d processes, %d locked increments each, final %s", env.server, counterProcs, counterRounds, tok.AccessToken)
}

func TestSQLSQLiteLockExcludesProcesses(t *testing.T) {
	testLockExcludesProcesses(t, sqlstore.SQLite, sqliteEnv, "TestSQLSQLiteLockExcludesProcesses")
}

func TestSQLPostgresLockExcludesProcesses(t *testing.T) {
	testLockExcludesProcesses(t, sqlstore.Postgres, postgresEnv, "TestSQLPostgresLockExcludesProcesses")
}

func TestSQLMariaDBLockExcludesProcesses(t *testing.T) {
	testLockExcludesProcesses(t, sqlstore.MySQL, mariadbEnv, "TestSQLMariaDBLockExcludesProcesses")
}

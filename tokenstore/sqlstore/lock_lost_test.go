package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/testservers/sqltest"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
	"golang.org/x/oauth2"
)

// A refresh lock that dies with its SQL session: killed, or closed by the
// server's idle timeout. Each test runs refreshes of one merchant in
// several OS processes, with rotation on, and counts the refresh token
// presented twice (invalid_grant) at the fake UltraCart.

const (
	envLostChild   = "UCOAUTH_LOCKLOST_CHILD"
	envLostDriver  = "UCOAUTH_LOCKLOST_DRIVER"
	envLostDSN     = "UCOAUTH_LOCKLOST_DSN"
	envLostBase    = "UCOAUTH_LOCKLOST_BASE"
	envLostTable   = "UCOAUTH_LOCKLOST_TABLE"
	envLostTimeout = "UCOAUTH_LOCKLOST_TIMEOUT"
)

func lostDialect(driver string) sqlstore.Dialect {
	if driver == "mysql" {
		return sqlstore.MySQL
	}
	return sqlstore.Postgres
}

// lockLostChild is one process: its own *sql.DB and TokenSource, asking
// once for the token (a refresh, the stored one has expired). It prints
// the token's fingerprint, or the error.
func lockLostChild(t *testing.T) {
	driver := os.Getenv(envLostDriver)
	db, err := sql.Open(driver, os.Getenv(envLostDSN))
	require.NoError(t, err)
	defer db.Close()
	store, err := sqlstore.New(context.Background(), db, lostDialect(driver), sqlstore.WithTable(os.Getenv(envLostTable)), sqlstore.WithExistingTable())
	require.NoError(t, err)
	timeout, err := time.ParseDuration(os.Getenv(envLostTimeout))
	require.NoError(t, err)
	cfg := ucoauth.NewConfig(ucoauthtest.DefaultClientID, ucoauthtest.DefaultClientSecret, "")
	cfg.Endpoint = ucoauth.EndpointAt(os.Getenv(envLostBase))
	// Its own client, whose connections to the parent's server close
	// before goleak looks.
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer hc.CloseIdleConnections()
	src := ucoauth.NewTokenSource(cfg, store, "DEMO", ucoauth.WithRefreshTimeout(timeout),
		ucoauth.WithBackoff(50*time.Millisecond, 200*time.Millisecond), ucoauth.WithHTTPClient(hc))
	defer src.Close()
	// A process whose refresh failed (its lock lost) tries again, as its
	// callers would: the token another process saved is then adopted.
	var tok *oauth2.Token
	for range 50 {
		if tok, err = src.Token(); err == nil || errors.Is(err, ucoauth.ErrReauthorizationRequired) {
			break
		}
		fmt.Fprintln(os.Stderr, "lock-lost child:", err)
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		fmt.Printf("LOCKLOST error %q\n", err.Error())
		return
	}
	fmt.Printf("LOCKLOST token %s\n", ucoauth.Fingerprint(tok.AccessToken))
}

// runLostChildren runs n children at once and returns what each printed.
func runLostChildren(t *testing.T, testName string, n int, env []string) []string {
	outs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^"+testName+"$")
			cmd.Env = append(os.Environ(), append([]string{envLostChild + "=1"}, env...)...)
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			assert.NoError(t, err, "child %d", i)
			for l := range strings.SplitSeq(string(out), "\n") {
				if v, ok := strings.CutPrefix(l, "LOCKLOST "); ok {
					outs[i] = v
				}
			}
		})
	}
	wg.Wait()
	return outs
}

// lostSetup starts a server of kind, a fake UltraCart with rotation, and
// stores an expired token of the merchant in a new table.
func lostSetup(t *testing.T, kind string) (*sqltest.Server, *sql.DB, *sqlstore.Store, *ucoauthtest.Server, string) {
	var srv *sqltest.Server
	if kind == "postgres" {
		srv = sqltest.NewPostgres(t)
	} else {
		srv = sqltest.NewMariaDB(t)
	}
	db, err := srv.Open()
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	table := fmt.Sprintf("lost_%d", time.Now().UnixNano()%1e9)
	store, err := sqlstore.New(t.Context(), db, lostDialect(srv.Driver), sqlstore.WithTable(table))
	require.NoError(t, err)
	uc := ucoauthtest.NewServer()
	t.Cleanup(uc.Close)
	uc.SetRotation(true)
	uc.SetLifetime(time.Hour)
	tok := uc.Issue("DEMO")
	tok.Expiry = time.Now().Add(-time.Minute) // expired: the first caller refreshes
	require.NoError(t, store.Save(t.Context(), "DEMO", tok))
	return srv, db, store, uc, table
}

// testIdleTimeout: the server closes sessions idle for 1 s (dsnParam, in
// every process's DSN), and a refresh takes 2.5 s at UltraCart. The lock's
// session is idle all that time: it must not be closed, or a second
// process would take the lock and present the same refresh token.
func testIdleTimeout(t *testing.T, kind, testName string, dsnParam func(dsn string) string) {
	if os.Getenv(envLostChild) != "" {
		lockLostChild(t)
		return
	}
	srv, _, store, uc, table := lostSetup(t, kind)
	uc.SetLatency(2500 * time.Millisecond)
	outs := runLostChildren(t, testName, 3, []string{envLostDriver + "=" + srv.Driver, envLostDSN + "=" + dsnParam(srv.DSN),
		envLostBase + "=" + uc.BaseURL(), envLostTable + "=" + table, envLostTimeout + "=10s"})
	st := uc.Stats()
	t.Logf("%s: children: %q; refreshes %d, invalid_grant %d", srv, outs, st.Refreshes(), st.InvalidGrant)
	assert.Zero(t, st.InvalidGrant, "no refresh token presented twice")
	assert.Equal(t, 1, st.Refreshes(), "one refresh for the three processes")
	stored, err := store.Load(t.Context(), "DEMO")
	require.NoError(t, err)
	for i, o := range outs {
		assert.Equal(t, "token "+ucoauth.Fingerprint(stored.AccessToken), o, "child %d serves the stored token", i)
	}
}

func TestSQLLockSurvivesIdleSessionTimeoutPostgres(t *testing.T) {
	testIdleTimeout(t, "postgres", "TestSQLLockSurvivesIdleSessionTimeoutPostgres", func(dsn string) string {
		return dsn + "&idle_session_timeout=1000" // a runtime parameter of every session
	})
}

func TestSQLLockSurvivesWaitTimeoutMariaDB(t *testing.T) {
	testIdleTimeout(t, "mariadb", "TestSQLLockSurvivesWaitTimeoutMariaDB", func(dsn string) string {
		return dsn + "?wait_timeout=1" // a SET of every session
	})
}

// killingLoads is the first process's store: the load it makes under the
// lock, before it presents the refresh token, is where the lock's session
// is killed, and another process refreshes meanwhile. The load still
// returns what it read before.
type killingLoads struct {
	*sqlstore.Store
	kill   func() bool // kills the lock's session; false while no lock is held
	then   func()
	killed atomic.Bool
}

func (k *killingLoads) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	tok, err := k.Store.Load(ctx, key)
	if err == nil && !k.killed.Load() && k.kill() {
		k.killed.Store(true)
		k.then()
	}
	return tok, err
}

// testLockKilled: the session holding the first process's lock is killed
// after it took the lock and before it presents the refresh token, and a
// second process (an OS process) refreshes meanwhile. The first process
// must see that it lost the lock and not present the refresh token.
func testLockKilled(t *testing.T, kind, testName string) {
	if os.Getenv(envLostChild) != "" {
		lockLostChild(t)
		return
	}
	srv, db, store, uc, table := lostSetup(t, kind)
	env := []string{envLostDriver + "=" + srv.Driver, envLostDSN + "=" + srv.DSN, envLostBase + "=" + uc.BaseURL(),
		envLostTable + "=" + table, envLostTimeout + "=10s"}
	var outs []string
	k := &killingLoads{Store: store, then: func() { outs = runLostChildren(t, testName, 1, env) }}
	k.kill = func() bool {
		var n int
		if kind == "postgres" {
			require.NoError(t, db.QueryRowContext(t.Context(), "SELECT count(pg_terminate_backend(pid)) FROM pg_locks "+
				"WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()").Scan(&n))
			return n > 0
		}
		// The lock's name, as the store derives it: database, table, key
		// (before the table was resolved: the table alone).
		name := func(table string) string {
			sum := sha256.Sum256([]byte("ucoauth\x00" + table + "\x00DEMO"))
			return "ucoauth_" + hex.EncodeToString(sum[:28])
		}
		var holder sql.NullInt64
		require.NoError(t, db.QueryRowContext(t.Context(), "SELECT COALESCE(IS_USED_LOCK(?), IS_USED_LOCK(?))",
			name("ucoauth."+table), name(table)).Scan(&holder))
		if !holder.Valid {
			return false
		}
		_, err := db.ExecContext(t.Context(), "KILL "+strconv.FormatInt(holder.Int64, 10))
		require.NoError(t, err)
		return true
	}
	cfg := uc.Config()
	src := ucoauth.NewTokenSource(cfg, k, "DEMO", ucoauth.WithRefreshTimeout(10*time.Second), ucoauth.WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	defer src.Close()
	_, err := src.Token()
	require.True(t, k.killed.Load(), "the lock's session was killed mid-refresh")
	t.Logf("%s: first process: %v; second: %q", srv, err, outs)
	assert.ErrorIs(t, err, ucoauth.ErrLockLost, "the first process knows it lost the lock")
	st := uc.Stats()
	assert.Zero(t, st.InvalidGrant, "the refresh token was presented once")
	assert.Equal(t, 1, st.Refreshes(), "by the second process alone")
	stored, err := store.Load(t.Context(), "DEMO")
	require.NoError(t, err)
	require.Len(t, outs, 1)
	assert.Equal(t, "token "+ucoauth.Fingerprint(stored.AccessToken), outs[0])
	// The first process adopts what the second saved.
	require.Eventually(t, func() bool {
		tok, err := src.Token()
		return err == nil && tok.AccessToken == stored.AccessToken
	}, 10*time.Second, 20*time.Millisecond)
	assert.Zero(t, uc.Stats().InvalidGrant)
}

func TestSQLLockKilledMidRefreshPostgres(t *testing.T) {
	testLockKilled(t, "postgres", "TestSQLLockKilledMidRefreshPostgres")
}

func TestSQLLockKilledMidRefreshMariaDB(t *testing.T) {
	testLockKilled(t, "mariadb", "TestSQLLockKilledMidRefreshMariaDB")
}

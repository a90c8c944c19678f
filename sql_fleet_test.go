package ucoauth_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/testservers/sqltest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// The SQL fleet: the same shape as the Redis fleet (redis_fleet_test.go),
// over PostgreSQL, with its own names so that the two files stay apart.
const (
	sqlFleetLifetime = 2 * time.Second
	sqlFleetEarly    = 500 * time.Millisecond
	envSQLFleetDSN   = "UCOAUTH_SQL_FLEET_DSN"
	envSQLFleetBase  = "UCOAUTH_SQL_FLEET_BASE"
	envSQLFleetFor   = "UCOAUTH_SQL_FLEET_FOR"
	sqlFleetTable    = "fleet_tokens"
)

// sqlFleetResult is what one child process reports.
type sqlFleetResult struct {
	final             string // fingerprint of its last token
	calls, errs, dead int
}

// TestSQLFleetPostgres: 8 OS processes, each with its own *sql.DB on one
// PostgreSQL, share one merchant across at least 3 token lifetimes with
// rotation on. The advisory lock makes it one refresh per window, and no
// refresh token is ever used twice.
func TestSQLFleetPostgres(t *testing.T) {
	if os.Getenv(envSQLFleetDSN) != "" {
		sqlFleetChild(t)
		return
	}
	pg := sqltest.NewPostgres(t)
	db, err := pg.Open()
	require.NoError(t, err)
	defer db.Close()
	store, err := tokenstore.NewSQL(t.Context(), db, tokenstore.Postgres, tokenstore.WithTable(sqlFleetTable))
	require.NoError(t, err)

	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetRotation(true)
	srv.SetLifetime(sqlFleetLifetime)
	require.NoError(t, store.Save(t.Context(), "DEMO", srv.Issue("DEMO")))

	const procs = 8
	runFor := 3*sqlFleetLifetime + sqlFleetLifetime/2
	env := []string{envSQLFleetDSN + "=" + pg.DSN, envSQLFleetBase + "=" + srv.BaseURL(), envSQLFleetFor + "=" + runFor.String()}
	results := make([]sqlFleetResult, procs)
	for i, f := range spawnFleet(t, "TestSQLFleetPostgres", procs, env, "SQLFLEET", srv, nil) {
		if assert.Len(t, f, 4, "process %d's report", i) {
			results[i].final = f[0]
			results[i].calls, _ = strconv.Atoi(f[1])
			results[i].errs, _ = strconv.Atoi(f[2])
			results[i].dead, _ = strconv.Atoi(f[3])
		}
	}

	st := srv.Stats()
	t.Logf("postgres: %s; refreshes: %d; invalid_grant: %d; results: %+v", pg, st.Refreshes(), st.InvalidGrant, results)
	assert.GreaterOrEqual(t, st.Refreshes(), 3, "the fleet lived through at least 3 expiry windows")
	assert.Zero(t, st.InvalidGrant, "no instance used a rotated-away refresh token")
	// One refresh per window: consecutive refreshes are a lifetime less the
	// early window apart (1.5 s). Two in one window would be milliseconds apart.
	for i := 1; i < len(st.RefreshTimes); i++ {
		gap := st.RefreshTimes[i].Sub(st.RefreshTimes[i-1])
		assert.Greater(t, gap, sqlFleetLifetime/2, "refreshes %d and %d are %s apart: two in one window", i-1, i, gap)
	}
	stored, err := store.Load(t.Context(), "DEMO")
	require.NoError(t, err)
	for i, r := range results {
		assert.Zero(t, r.errs, "process %d saw errors with everything healthy", i)
		assert.Zero(t, r.dead, "process %d was told to reauthorize", i)
		assert.Positive(t, r.calls, "process %d did not run", i)
		assert.Equal(t, ucoauth.Fingerprint(stored.AccessToken), r.final, "process %d ends on the newest token", i)
	}
}

// sqlFleetChild is one instance of the fleet: its own *sql.DB and
// TokenSource over the shared PostgreSQL, hammered from several goroutines.
func sqlFleetChild(t *testing.T) {
	runFor, err := time.ParseDuration(os.Getenv(envSQLFleetFor))
	require.NoError(t, err)
	db, err := sql.Open("pgx", os.Getenv(envSQLFleetDSN))
	require.NoError(t, err)
	defer db.Close()
	store, err := tokenstore.NewSQL(context.Background(), db, tokenstore.Postgres, tokenstore.WithTable(sqlFleetTable))
	require.NoError(t, err)
	cfg := ucoauth.NewConfig(ucoauthtest.DefaultClientID, ucoauthtest.DefaultClientSecret, "")
	cfg.Endpoint = ucoauth.EndpointAt(os.Getenv(envSQLFleetBase))
	src := ucoauth.NewTokenSource(cfg, store, "DEMO", ucoauth.WithEarlyRefresh(sqlFleetEarly),
		ucoauth.WithBackoff(50*time.Millisecond, 300*time.Millisecond), ucoauth.WithRefreshTimeout(2*time.Second))
	defer src.Close() // before the store's connection closes: a refresh may be under way

	fleetReady(src)
	var calls, errs, dead atomic.Int64
	start := time.Now()
	stop := start.Add(runFor)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				// Generous: it only bounds a hang. A loaded machine can make a
				// caller wait out a whole refresh convoy.
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := src.TokenContext(ctx)
				cancel()
				calls.Add(1)
				if err != nil {
					if errs.Add(1) <= 3 {
						fmt.Fprintf(os.Stderr, "fleet child error %s after its start: %v\n", time.Since(start).Round(time.Millisecond), err)
					}
					if errors.Is(err, ucoauth.ErrReauthorizationRequired) {
						dead.Add(1)
					}
					time.Sleep(5 * time.Millisecond)
				}
				// A caller between API calls. Callers spinning on Token() would
				// starve the lock holder of 8 processes on 2 cores, until the
				// others' lock waits time out: a load no fleet produces.
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	fmt.Println("DONE")
	_, err = bufio.NewReader(os.Stdin).ReadString('\n') // the parent's go-ahead
	require.NoError(t, err)

	// Converge: keep asking until this process holds what the table holds,
	// and that is a settled token, which no refresh replaces before every
	// process has reported it.
	var final string
	require.Eventually(t, func() bool {
		tok, err := src.Token()
		stored, serr := store.Load(context.Background(), "DEMO")
		if err != nil || serr != nil {
			return false
		}
		final = ucoauth.Fingerprint(tok.AccessToken)
		return fleetSettled(tok, stored)
	}, 15*time.Second, 20*time.Millisecond, "never converged on the stored token")
	fmt.Printf("SQLFLEET %s %d %d %d\n", final, calls.Load(), errs.Load(), dead.Load())
}

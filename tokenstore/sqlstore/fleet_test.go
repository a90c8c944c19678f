package sqlstore_test

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/fleet"
	"github.com/ucoauth/go-ucoauth/internal/testservers/sqltest"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// The SQL fleet: the same shape as redisstore's Redis fleet, over
// PostgreSQL, on the same fleet.Spawn and fleet.Child.
const (
	sqlFleetLifetime = 2 * time.Second
	sqlFleetEarly    = 500 * time.Millisecond
	envSQLFleetDSN   = "UCOAUTH_SQL_FLEET_DSN"
	envSQLFleetBase  = "UCOAUTH_SQL_FLEET_BASE"
	envSQLFleetFor   = "UCOAUTH_SQL_FLEET_FOR"
	sqlFleetTable    = "fleet_tokens"
)

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
	store, err := sqlstore.New(t.Context(), db, sqlstore.Postgres, sqlstore.WithTable(sqlFleetTable))
	require.NoError(t, err)

	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetRotation(true)
	srv.SetLifetime(sqlFleetLifetime)
	require.NoError(t, store.Save(t.Context(), "DEMO", srv.Issue("DEMO")))

	const procs = 8
	runFor := 3*sqlFleetLifetime + sqlFleetLifetime/2
	env := []string{envSQLFleetDSN + "=" + pg.DSN, envSQLFleetBase + "=" + srv.BaseURL(), envSQLFleetFor + "=" + runFor.String()}
	results := fleet.Spawn(t, "TestSQLFleetPostgres", procs, env, "SQLFLEET", srv, nil)

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
		assert.Zero(t, r.Errs, "process %d saw errors with everything healthy", i)
		assert.Zero(t, r.Dead, "process %d was told to reauthorize", i)
		assert.Positive(t, r.Calls, "process %d did not run", i)
		assert.Equal(t, ucoauth.Fingerprint(stored.AccessToken), r.Final, "process %d ends on the newest token", i)
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
	store, err := sqlstore.New(context.Background(), db, sqlstore.Postgres, sqlstore.WithTable(sqlFleetTable))
	require.NoError(t, err)
	cfg := ucoauth.NewConfig(ucoauthtest.DefaultClientID, ucoauthtest.DefaultClientSecret, "")
	cfg.Endpoint = ucoauth.EndpointAt(os.Getenv(envSQLFleetBase))
	src := ucoauth.NewTokenSource(cfg, store, "DEMO", ucoauth.WithEarlyRefresh(sqlFleetEarly),
		ucoauth.WithBackoff(50*time.Millisecond, 300*time.Millisecond), ucoauth.WithRefreshTimeout(2*time.Second))
	defer src.Close() // before the store's connection closes: a refresh may be under way

	fleet.Ready(src)
	fleet.Child(t, "SQLFLEET", src, store, "DEMO", time.Now().Add(runFor))
}

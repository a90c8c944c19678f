package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/fleet"
	"github.com/ucoauth/go-ucoauth/internal/testservers/sqltest"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
	"golang.org/x/oauth2"
)

const (
	envOutageDSN   = "UCOAUTH_OUTAGE_DSN"
	envOutageBase  = "UCOAUTH_OUTAGE_BASE"
	envOutageFrom  = "UCOAUTH_OUTAGE_FROM"  // Unix ms: saves fail from here...
	envOutageUntil = "UCOAUTH_OUTAGE_UNTIL" // ...to here
	envOutageStop  = "UCOAUTH_OUTAGE_STOP"  // Unix ms: the callers stop
	outageTable    = "outage_tokens"
	outageLifetime = 2 * time.Second
	outageEarly    = 500 * time.Millisecond
)

// outageStore refuses every save between from and until, as a database
// that refuses writes (read-only after a failover, a full disk) while its
// reads and locks still work.
type outageStore struct {
	*sqlstore.Store
	from, until time.Time
}

var errOutage = errors.New("saves refused (simulated outage)")

func (o outageStore) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	if now := time.Now(); !now.Before(o.from) && now.Before(o.until) {
		return errOutage
	}
	return o.Store.Save(ctx, key, tok)
}

// TestSaveOutageFleetKeepsLock: 4 OS processes share one merchant on
// PostgreSQL, with rotation on and a token lifetime of 2 s, while the
// store refuses every save for 5 s. The process holding an unsaved
// rotated token keeps the refresh lock, and refreshes under it, until its
// save lands: no process refreshes from the stored, rotated-away token.
func TestSaveOutageFleetKeepsLock(t *testing.T) {
	if os.Getenv(envOutageDSN) != "" {
		outageChild(t)
		return
	}
	pg := sqltest.NewPostgres(t)
	db, err := pg.Open()
	require.NoError(t, err)
	defer db.Close()
	store, err := sqlstore.New(t.Context(), db, sqlstore.Postgres, sqlstore.WithTable(outageTable))
	require.NoError(t, err)
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetRotation(true)
	srv.SetLifetime(outageLifetime)
	require.NoError(t, store.Save(t.Context(), "DEMO", srv.Issue("DEMO")))

	from := time.Now().Add(2 * time.Second)
	until := from.Add(5 * time.Second)
	stop := until.Add(3 * time.Second)
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	env := []string{envOutageDSN + "=" + pg.DSN, envOutageBase + "=" + srv.BaseURL(),
		envOutageFrom + "=" + ms(from), envOutageUntil + "=" + ms(until), envOutageStop + "=" + ms(stop)}
	const procs = 4
	reports := fleet.Spawn(t, "TestSaveOutageFleetKeepsLock", procs, env, "OUTAGE", srv, nil)

	st := srv.Stats()
	t.Logf("%s: refreshes %d, invalid_grant %d; reports: %+v", pg, st.Refreshes(), st.InvalidGrant, reports)
	assert.Zero(t, st.InvalidGrant, "no process refreshed from a rotated-away refresh token")
	assert.GreaterOrEqual(t, st.Refreshes(), 4, "refreshes went on through the outage")
	stored, err := store.Load(t.Context(), "DEMO")
	require.NoError(t, err)
	for i, r := range reports {
		assert.Equal(t, ucoauth.Fingerprint(stored.AccessToken), r.Final, "process %d ends on the stored token", i)
		assert.Zero(t, r.Dead, "process %d was never told to reauthorize", i)
	}
}

func outageChild(t *testing.T) {
	at := func(env string) time.Time {
		n, err := strconv.ParseInt(os.Getenv(env), 10, 64)
		require.NoError(t, err)
		return time.UnixMilli(n)
	}
	db, err := sql.Open("pgx", os.Getenv(envOutageDSN))
	require.NoError(t, err)
	defer db.Close()
	inner, err := sqlstore.New(context.Background(), db, sqlstore.Postgres, sqlstore.WithTable(outageTable), sqlstore.WithExistingTable())
	require.NoError(t, err)
	store := outageStore{Store: inner, from: at(envOutageFrom), until: at(envOutageUntil)}
	cfg := ucoauth.NewConfig(ucoauthtest.DefaultClientID, ucoauthtest.DefaultClientSecret, "")
	cfg.Endpoint = ucoauth.EndpointAt(os.Getenv(envOutageBase))
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer hc.CloseIdleConnections()
	src := ucoauth.NewTokenSource(cfg, store, "DEMO", ucoauth.WithEarlyRefresh(outageEarly), ucoauth.WithHTTPClient(hc),
		ucoauth.WithBackoff(50*time.Millisecond, 300*time.Millisecond), ucoauth.WithRefreshTimeout(2*time.Second))
	defer src.Close()
	fleet.Ready(src)
	// Errors are expected while another process holds the lock for its
	// unsaved token and this one's token expired.
	fleet.Child(t, "OUTAGE", src, store, "DEMO", at(envOutageStop))
}

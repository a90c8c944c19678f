package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/internal/redact"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// testWrongColumnTypeLeaksNoToken: a table made for WithExistingTable whose
// record column has the wrong type makes the database refuse every save,
// quoting the value it refused: the record, tokens and all (MySQL: Incorrect
// integer value: '{"version":1,...,"access_token":"..."'; PostgreSQL: invalid
// input syntax for type integer: "{...}"). The store's error, and the
// TokenSource's logs and RefreshEvent built from it, must not show them.
func testWrongColumnTypeLeaksNoToken(t *testing.T, env sqlEnv, db *sql.DB, recordType string) {
	table := uniqueTable("wrongtype")
	blob := map[sqlstore.Dialect]string{sqlstore.Postgres: "bytea", sqlstore.MySQL: "MEDIUMBLOB"}[env.dialect]
	hash := map[sqlstore.Dialect]string{sqlstore.Postgres: "bytea", sqlstore.MySQL: "BINARY(32)"}[env.dialect]
	_, err := db.ExecContext(t.Context(), fmt.Sprintf(`CREATE TABLE %s (key_hash %s PRIMARY KEY, store_key %s NOT NULL,
		record %s NOT NULL, expiry_ms bigint NOT NULL, revision bigint NOT NULL, updated_ms bigint NOT NULL)`, table, hash, blob, recordType))
	require.NoError(t, err)
	store, err := sqlstore.New(t.Context(), db, env.dialect, sqlstore.WithTable(table), sqlstore.WithExistingTable())
	require.NoError(t, err, "the columns are all there")

	const at, rt = "at-Wr0ngC0lumnAccess", "rt-Wr0ngC0lumnRefresh"
	err = store.Save(t.Context(), "M1", &oauth2.Token{AccessToken: at, RefreshToken: rt, Expiry: time.Now().Add(time.Hour)})
	require.Error(t, err, "precondition: the database refuses the record")
	out := fmt.Sprintf("%v %+v %s %q", err, err, err, err)
	assert.NotContains(t, out, "Wr0ngC0lumn", "the database's message quotes the record")
	assert.Contains(t, out, redact.Placeholder)

	// Through a TokenSource: a refresh whose save fails is logged, and the
	// refresh hook gets the error.
	fake := ucoauthtest.NewServer()
	t.Cleanup(fake.Close)
	var (
		mu     sync.Mutex
		logs   lockedBuffer
		events []string
	)
	issued := fake.Issue("M1")
	issued.Expiry = time.Now().Add(-time.Minute)
	src := ucoauth.NewTokenSource(fake.Config(), seededSQL{store, issued}, "M1",
		ucoauth.WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		ucoauth.WithRefreshHook(func(e ucoauth.RefreshEvent) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, fmt.Sprintf("%v %+v", e, e.Err))
		}))
	_, err = src.Token()
	require.NoError(t, src.Close(), "Close waits for the source's background work")
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, events, "precondition: a refresh ran")
	require.Contains(t, logs.String(), "save", "precondition: the failed save is logged")
	all := logs.String() + strings.Join(events, "\n") + fmt.Sprintf("%v", err)
	for _, secret := range []string{issued.AccessToken, issued.RefreshToken} {
		assert.NotContains(t, all, secret)
	}
}

// lockedBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// seededSQL loads one expired token and saves to a SQL store.
type seededSQL struct {
	*sqlstore.Store
	tok *oauth2.Token
}

func (s seededSQL) Load(context.Context, string) (*oauth2.Token, error) { return s.tok, nil }

func TestSQLPostgresWrongColumnTypeLeaksNoToken(t *testing.T) {
	env := postgresEnv(t)
	testWrongColumnTypeLeaksNoToken(t, env, env.open(t, ""), "integer")
}

func TestSQLMariaDBWrongColumnTypeLeaksNoToken(t *testing.T) {
	env := mariadbEnv(t)
	testWrongColumnTypeLeaksNoToken(t, env, env.open(t, ""), "DATE")
}

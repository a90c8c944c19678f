package tokenstore_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/record"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// TestTokenOfItsOwnRevokedGrantIsATombstone: no build writes a token
// record whose own grant is among its live revocations, but anyone who
// can write to the store can make one out of a real record (the grant ID
// and the revocations are readable, not sealed). Served as a token, it is
// refreshed, its save refused, dropped, and loaded again at every look:
// a token request per second per process, each rotated refresh token
// thrown away. It reads as the tombstone it claims to be.
func TestTokenOfItsOwnRevokedGrantIsATombstone(t *testing.T) {
	recent := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	raw := `{"version":2,"key":"m","access_token":"at","refresh_token":"rt","expiry":"2000-01-01T00:00:00Z","grant":"g-x",` +
		`"revoked":[{"grant":"g-x","at":"` + recent + `"},{"grant":"","at":"` + recent + `"}]}`
	_, err := record.Unmarshal("m", []byte(raw))
	assert.ErrorIs(t, err, ucoauth.ErrRevoked)
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound)

	// Through a TokenSource, over a real file store: no token request.
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	dir := t.TempDir()
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	tok := uc.Issue("M")
	require.NoError(t, store.Save(t.Context(), "m", tok))
	require.NoError(t, store.Tombstone(t.Context(), "m"))
	again := uc.Issue("M") // a reconnect, whose record a store writer then forges
	require.NoError(t, store.Save(t.Context(), "m", again))
	forgeSelfRevoked(t, tokenstore.FilePath(store, "m"), ucoauth.GrantID(again))

	var mu sync.Mutex
	now := time.Now().Add(48 * time.Hour) // the token is stale: a source would refresh it
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	src := ucoauth.NewTokenSource(uc.Config(), store, "m", ucoauth.WithClock(clock))
	defer src.Close()
	for range 5 {
		_, err := src.TokenContext(context.Background())
		assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
		mu.Lock()
		now = now.Add(2 * time.Second) // past the look-again pace
		mu.Unlock()
	}
	assert.Zero(t, uc.Stats().Refreshes(), "no token request for a record that revokes its own grant")
}

// forgeSelfRevoked edits the record file at path: its own grant is added
// to its revocations, as a writer to the store could.
func forgeSelfRevoked(t *testing.T, path, grant string) {
	t.Helper()
	b, err := readFile(path)
	require.NoError(t, err)
	s := string(b)
	i := strings.Index(s, `"revoked":[`)
	require.Positive(t, i, "precondition: the record carries revocations: %s", s)
	i += len(`"revoked":[`)
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	s = s[:i] + `{"grant":"` + grant + `","at":"` + at + `"},` + s[i:]
	require.NoError(t, writeFile(path, []byte(s)))
}

func readFile(p string) ([]byte, error)  { return os.ReadFile(p) }
func writeFile(p string, b []byte) error { return os.WriteFile(p, b, 0o600) }

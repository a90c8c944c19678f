package ucoauth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// TestServerCannotChooseGrantID: x/oauth2 keeps the whole token answer in
// the token's extras, so a server (or anything between) that answers with
// a ucoauth_grant field must not choose the grant ID: neither a new
// authorization's (it could name a revoked grant, or a fixed one that
// every reconnect shares) nor a refresh's (it could move a revoked grant's
// refresh to a grant the tombstone does not name).
func TestServerCannotChooseGrantID(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		i := n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": "at-" + strings.Repeat("x", int(i)), "refresh_token": "rt-" + strings.Repeat("y", int(i)),
			"token_type": "Bearer", "expires_in": 3600, ucoauth.GrantExtra: "g-chosen-by-server",
		})
	}))
	defer srv.Close()
	cfg := &oauth2.Config{ClientID: "c", ClientSecret: "s", Endpoint: ucoauth.EndpointAt(srv.URL)}

	tok, err := ucoauth.Exchange(t.Context(), cfg, "code")
	require.NoError(t, err)
	assert.NotEqual(t, "g-chosen-by-server", ucoauth.GrantID(tok), "Exchange stamps its own grant ID")
	assert.True(t, strings.HasPrefix(ucoauth.GrantID(tok), "g-"))

	store := tokenstore.NewMemory()
	stale := ucoauth.WithGrantID(&oauth2.Token{AccessToken: "old", RefreshToken: "rt-old", Expiry: time.Now().Add(-time.Minute)}, "g-mine")
	require.NoError(t, store.Save(t.Context(), "m", stale))
	src := ucoauth.NewTokenSource(cfg, store, "m")
	defer src.Close()
	got, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, "g-mine", ucoauth.GrantID(got), "a refresh keeps its base's grant")
	stored, err := store.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, "g-mine", ucoauth.GrantID(stored))

	// A legacy token (no grant) refreshed by a server naming a grant stays
	// of no grant: it cannot escape a tombstone's "".
	require.NoError(t, store.Tombstone(t.Context(), "m"))
	legacy := tokenstore.NewMemory()
	require.NoError(t, legacy.Save(t.Context(), "m", &oauth2.Token{AccessToken: "old2", RefreshToken: "rt-old2", Expiry: time.Now().Add(-time.Minute)}))
	lsrc := ucoauth.NewTokenSource(cfg, legacy, "m")
	defer lsrc.Close()
	got, err = lsrc.Token()
	require.NoError(t, err)
	assert.Empty(t, ucoauth.GrantID(got))
	assert.ErrorIs(t, store.Save(t.Context(), "m", got), ucoauth.ErrRevoked)
}

// TestManagerNotFoundCacheKeepsRevoked: a tombstoned key read through a
// Manager answers ErrRevoked (reauthorization required) on every call, not
// ErrRevoked once and then a plain ErrTokenNotFound from the cache of
// missing keys, which would tell the application the merchant never
// connected.
func TestManagerNotFoundCacheKeepsRevoked(t *testing.T) {
	mem := tokenstore.NewMemory()
	require.NoError(t, mem.Tombstone(t.Context(), "m"))
	store := &countingLoads{Memory: mem}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	m := ucoauth.NewManager(&oauth2.Config{ClientID: "c", Endpoint: ucoauth.EndpointAt("http://127.0.0.1:1")}, store,
		ucoauth.WithNotFoundCache(time.Hour, 16), ucoauth.WithClock(clock))
	defer m.Close()
	for i := range 4 {
		mu.Lock()
		now = now.Add(2 * time.Second) // past the source's look-again pace, within the cache's ttl
		mu.Unlock()
		_, err := m.Source("m").Token()
		assert.ErrorIs(t, err, ucoauth.ErrRevoked, "call %d", i)
		assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired, "call %d", i)
	}
	loads := store.n.Load()
	assert.EqualValues(t, 4, loads, "one read per call, each a pace apart")
	for range 50 { // at one instant: the source's pace answers, not the store
		_, err := m.Source("m").Token()
		assert.ErrorIs(t, err, ucoauth.ErrRevoked)
	}
	assert.Equal(t, loads, store.n.Load(), "a revoked key read at most once per look-again pace")
}

// countingLoads counts a store's loads.
type countingLoads struct {
	*tokenstore.Memory
	n atomic.Int32
}

func (c *countingLoads) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	c.n.Add(1)
	return c.Memory.Load(ctx, key)
}

package ucoauth_test

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"

	"github.com/ucoauth/go-ucoauth/tokenstore"

	"testing"
	"time"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestShorterLifetimeElsewhereNeverReusesARotatedRefreshToken: process A's
// refresh gets a shorter lifetime than the token it replaces, so the store
// now holds a token that expires before the one process B holds in memory,
// though it was issued later. B must refresh from the stored token, not
// from its own, whose refresh token A rotated away.
func TestShorterLifetimeElsewhereNeverReusesARotatedRefreshToken(t *testing.T) {
	f := newFixture(t, time.Hour)
	f.srv.SetRotation(true)
	a, b := f.loaded(t), f.loaded(t)
	f.srv.SetLifetime(10 * time.Minute)
	require.True(t, ucoauth.Invalidate(a, f.tok)) // the API refused it: A refreshes now
	ta, err := a.Token()
	require.NoError(t, err)
	require.NotEqual(t, f.tok.AccessToken, ta.AccessToken)
	stored, err := f.store.Load(t.Context(), "m")
	require.NoError(t, err)
	require.Equal(t, ta.AccessToken, stored.AccessToken, "precondition: A's token replaced the longer-lived one")

	f.clock.Advance(58 * time.Minute) // B's token is now stale, A's expired
	tb, err := b.Token()
	require.NoError(t, err)
	_, err = b.Token()
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)
	tb, err = b.Token()
	require.NoError(t, err)
	assert.NotEqual(t, f.tok.AccessToken, tb.AccessToken)
	assert.Zero(t, f.srv.Stats().InvalidGrant, "B sent the refresh token A's refresh rotated away")
}

// laggingStore answers Load with what it held before the last Save, as a
// stale replica would, while lagging is set.
type laggingStore struct {
	ucoauth.TokenStore
	mu      sync.Mutex
	prev    *oauth2.Token
	lagging bool
}

func (l *laggingStore) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lagging && l.prev != nil {
		return l.prev, nil
	}
	return l.TokenStore.Load(ctx, key)
}

func (l *laggingStore) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	prev, _ := l.TokenStore.Load(ctx, key)
	err := l.TokenStore.Save(ctx, key, tok)
	if err == nil {
		l.prev = prev
	}
	return err
}

// TestStaleReadNeverReusesARotatedRefreshToken: a source that adopted the
// token another process saved must not go back to one issued before it
// when the store serves a stale read (a replica, a failover that lost
// writes): its refresh token was rotated away.
func TestStaleReadNeverReusesARotatedRefreshToken(t *testing.T) {
	f := newFixture(t, time.Hour)
	f.srv.SetRotation(true)
	ls := &laggingStore{TokenStore: f.store}
	a := f.loaded(t)
	b := ucoauth.NewTokenSource(f.cfg, ls, "m", ucoauth.WithClock(f.clock.Now))
	_, err := b.Token()
	require.NoError(t, err)
	f.clock.Advance(time.Hour)
	ta, err := a.Token() // A refreshes, B adopts
	require.NoError(t, err)
	require.NotEqual(t, f.tok.AccessToken, ta.AccessToken)
	tb, err := b.Token()
	require.NoError(t, err)
	require.Equal(t, ta.AccessToken, tb.AccessToken, "precondition: B adopted A's token")
	f.clock.Advance(time.Hour)
	ta, err = a.Token() // and again: the first token is two saves behind
	require.NoError(t, err)
	tb, err = b.Token()
	require.NoError(t, err)
	require.Equal(t, ta.AccessToken, tb.AccessToken, "precondition: B adopted A's second token")

	ls.mu.Lock()
	ls.prev, ls.lagging = f.tok, true // the store now answers with the first token
	ls.mu.Unlock()
	f.clock.Advance(time.Hour) // B's token expired: B waits for its refresh
	tb, err = b.Token()
	require.NoError(t, err)
	assert.NotEqual(t, ta.AccessToken, tb.AccessToken, "B refreshed")
	assert.Equal(t, 3, f.srv.Stats().Refreshes())
	assert.Zero(t, f.srv.Stats().InvalidGrant, "B sent a refresh token A rotated away")
}

// TestUnreadableRecordTheStoreKeepsIsNotRefreshedOver: during a rolling
// deploy of a new sealing key, process A (new keys) refreshes and seals the
// record with a key process B does not have yet. B must not refresh from
// the token in memory, whose refresh token A rotated away, nor overwrite
// the record; once B has the key, it reads A's token.
func TestUnreadableRecordTheStoreKeepsIsNotRefreshedOver(t *testing.T) {
	f := newFixture(t, time.Hour)
	f.srv.SetRotation(true)
	fs, err := tokenstore.NewFile(filepath.Join(t.TempDir(), "tokens"))
	require.NoError(t, err)
	k1 := tokenstore.SealKey{ID: "k1", Secret: bytes.Repeat([]byte{1, 2}, 16)}
	k2 := tokenstore.SealKey{ID: "k2", Secret: bytes.Repeat([]byte{3, 4}, 16)}
	oldKeys, err := tokenstore.Seal(fs, k1)
	require.NoError(t, err)
	newKeys, err := tokenstore.Seal(fs, k2, k1)
	require.NoError(t, err)
	require.NoError(t, oldKeys.Save(t.Context(), "m", f.tok))
	a := ucoauth.NewTokenSource(f.cfg, newKeys, "m", ucoauth.WithClock(f.clock.Now))
	defer a.Close()
	b := ucoauth.NewTokenSource(f.cfg, oldKeys, "m", ucoauth.WithClock(f.clock.Now))
	defer b.Close()
	_, err = a.Token()
	require.NoError(t, err)
	_, err = b.Token()
	require.NoError(t, err)

	f.clock.Advance(2 * time.Hour)
	ta, err := a.Token()
	require.NoError(t, err, "A refreshes and seals with k2")
	_, err = b.Token()
	require.ErrorIs(t, err, tokenstore.ErrCannotOpen)
	var se *ucoauth.StoreError
	require.ErrorAs(t, err, &se)
	assert.False(t, se.Temporary())
	assert.Equal(t, 1, f.srv.Stats().Refreshes(), "B sent no refresh token")
	assert.Zero(t, f.srv.Stats().InvalidGrant)
	stored, err := newKeys.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, ta.AccessToken, stored.AccessToken, "A's token is still stored")

	// B restarts with the new keys: it reads A's token, no refresh needed.
	b2 := ucoauth.NewTokenSource(f.cfg, newKeys, "m", ucoauth.WithClock(f.clock.Now))
	defer b2.Close()
	tb, err := b2.Token()
	require.NoError(t, err)
	assert.Equal(t, ta.AccessToken, tb.AccessToken)
	assert.Zero(t, f.srv.Stats().InvalidGrant)
}

package ucoauth_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
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
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// TestRevokeLeavesTombstoneAndRevokesRefreshToken: against a server that
// revokes only the token it is sent, Revoke sends the refresh token too
// (token_type_hint=refresh_token), so that the grant ends, and leaves a
// tombstone in the store.
func TestRevokeLeavesTombstoneAndRevokesRefreshToken(t *testing.T) {
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	uc.SetRevokeAnswer(ucoauthtest.RevokeRFC7009Strict)
	store := tokenstore.NewMemory()
	tok := uc.Issue("M")
	require.NotEmpty(t, ucoauth.GrantID(tok), "precondition: Issue stamps a grant, as Exchange does")
	require.NoError(t, store.Save(t.Context(), "m", tok))
	src := ucoauth.NewTokenSource(uc.Config(), store, "m")
	defer src.Close()
	require.NoError(t, src.Revoke(t.Context()))

	st := uc.Stats()
	assert.Equal(t, 1, st.Revoke, "the access token")
	assert.Equal(t, 1, st.RevokeRefresh, "the refresh token, with token_type_hint=refresh_token")
	_, err := store.Load(t.Context(), "m")
	assert.ErrorIs(t, err, ucoauth.ErrRevoked, "a tombstone")
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound, "which older callers read as no token")

	// The refresh token is dead at the server: a copy elsewhere cannot
	// refresh, even into a store of its own.
	other := tokenstore.NewMemory()
	stale := *tok
	stale.Expiry = time.Now().Add(-time.Minute)
	require.NoError(t, other.Save(t.Context(), "m", ucoauth.WithGrantID(&stale, ucoauth.GrantID(tok))))
	copySrc := ucoauth.NewTokenSource(uc.Config(), other, "m")
	defer copySrc.Close()
	_, err = copySrc.Token()
	assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	assert.Equal(t, 1, uc.Stats().InvalidGrant, "the revoked refresh token was refused")

	// The source that revoked answers reauthorization required too.
	_, err = src.Token()
	assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	assert.Equal(t, ucoauth.StateReauthorizationRequired, src.Status().State)
}

// tombstoneOnRefresh is an HTTP client that, when the first refresh request
// leaves, lets another process revoke the merchant (a tombstone) before
// the request reaches the server: the refresh succeeds, its save meets the
// tombstone.
func tombstoneOnRefresh(t *testing.T, store ucoauth.Tombstoner, key string) *http.Client {
	var once sync.Once
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if strings.HasSuffix(r.URL.Path, "/oauth/token") {
			once.Do(func() { require.NoError(t, store.Tombstone(context.Background(), key)) })
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
}

// TestRefreshSavedOverTombstoneIsDropped: a process refreshes a grant that
// another process revokes meanwhile, at a server that cannot revoke refresh
// tokens. The save is refused (ErrRevoked), the process drops what UltraCart
// gave it, answers ErrReauthorizationRequired (its Status says so), and
// makes no further token request; a new authorization saved elsewhere is
// picked up.
func TestRefreshSavedOverTombstoneIsDropped(t *testing.T) {
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	uc.SetRevokeAnswer(ucoauthtest.RevokeAccessOnly)
	store := tokenstore.NewMemory()
	tok := uc.Issue("M")
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	require.NoError(t, store.Save(t.Context(), "m", ucoauth.WithGrantID(&expired, ucoauth.GrantID(tok))))

	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var logs syncBuf
	src := ucoauth.NewTokenSource(uc.Config(), store, "m", ucoauth.WithClock(clock),
		ucoauth.WithHTTPClient(tombstoneOnRefresh(t, store, "m")),
		ucoauth.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	defer src.Close()

	got, err := src.Token()
	require.Equal(t, 1, uc.Stats().Refreshes(), "precondition: the refresh reached the server")
	assert.Nil(t, got, "the refreshed token of a revoked grant is not served")
	require.ErrorIs(t, err, ucoauth.ErrRevoked)
	assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	st := src.Status()
	assert.Equal(t, ucoauth.StateReauthorizationRequired, st.State)
	assert.Empty(t, st.Token, "no token held")
	assert.ErrorIs(t, st.Err, ucoauth.ErrRevoked)
	_, err = store.Load(t.Context(), "m")
	assert.ErrorIs(t, err, ucoauth.ErrRevoked, "the tombstone stays")

	for range 3 {
		_, err = src.Token()
		assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	}
	mu.Lock()
	now = now.Add(2 * time.Second) // past the look-again pace
	mu.Unlock()
	_, err = src.Token()
	assert.ErrorIs(t, err, ucoauth.ErrRevoked, "the store still says revoked")
	assert.Equal(t, 1, uc.Stats().Refreshes(), "no token request for a revoked grant")
	for _, secret := range []string{tok.AccessToken, tok.RefreshToken} {
		assert.NotContains(t, err.Error(), secret)
		assert.NotContains(t, logs.String(), secret)
	}

	// The merchant connects again, from another process.
	again := uc.Issue("M")
	require.NoError(t, store.Save(t.Context(), "m", again))
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	got, err = src.Token()
	require.NoError(t, err)
	assert.Equal(t, again.AccessToken, got.AccessToken)
	assert.Equal(t, ucoauth.StateFresh, src.Status().State)
}

// TestLoadMeetingTombstoneDropsTokens: a process holding a fresh token of
// a grant revoked elsewhere drops it at its next look at the store, and
// sends no refresh.
func TestLoadMeetingTombstoneDropsTokens(t *testing.T) {
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(t.Context(), "m", uc.Issue("M")))
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	src := ucoauth.NewTokenSource(uc.Config(), store, "m", ucoauth.WithClock(clock))
	defer src.Close()
	_, err := src.Token()
	require.NoError(t, err)

	require.NoError(t, store.Tombstone(t.Context(), "m"), "another process revokes")
	mu.Lock()
	now = now.Add(time.Hour) // expired: the caller waits for the refresh
	mu.Unlock()
	_, err = src.Token()
	require.ErrorIs(t, err, ucoauth.ErrRevoked)
	assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	assert.Zero(t, uc.Stats().Refreshes(), "no refresh of a revoked grant")
	assert.Equal(t, ucoauth.StateReauthorizationRequired, src.Status().State)
	assert.Empty(t, src.Status().Token)
}

// plainStore is a store of a user's own, written before tombstones.
type plainStore struct{ m *tokenstore.Memory }

func (p plainStore) Load(ctx context.Context, k string) (*oauth2.Token, error) {
	return p.m.Load(ctx, k)
}
func (p plainStore) Save(ctx context.Context, k string, t *oauth2.Token) error {
	return p.m.Save(ctx, k, t)
}
func (p plainStore) Delete(ctx context.Context, k string) error { return p.m.Delete(ctx, k) }

// TestRevokeWithoutTombstonesDeletes: a store that keeps no tombstones,
// bare or under Seal, still works: Revoke deletes the key and says so in
// the log.
func TestRevokeWithoutTombstonesDeletes(t *testing.T) {
	key := tokenstore.SealKey{ID: "k1", Secret: bytes.Repeat([]byte{7, 9}, 16)}
	sealed, err := tokenstore.Seal(plainStore{tokenstore.NewMemory()}, key)
	require.NoError(t, err)
	for name, store := range map[string]ucoauth.TokenStore{"plain": plainStore{tokenstore.NewMemory()}, "sealed": sealed} {
		t.Run(name, func(t *testing.T) {
			uc := ucoauthtest.NewServer()
			defer uc.Close()
			require.NoError(t, store.Save(t.Context(), "m", uc.Issue("M")))
			var logs syncBuf
			src := ucoauth.NewTokenSource(uc.Config(), store, "m", ucoauth.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			defer src.Close()
			require.NoError(t, src.Revoke(t.Context()))
			_, err := store.Load(t.Context(), "m")
			assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound, "deleted")
			assert.NotErrorIs(t, err, ucoauth.ErrRevoked)
			assert.Contains(t, logs.String(), "keeps no tombstones")
		})
	}
}

// TestGrantIDCarriedByRefresh: Exchange stamps a new grant ID on every
// authorization, and every refresh carries it forward into the store.
func TestGrantIDCarriedByRefresh(t *testing.T) {
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	cfg := uc.Config()
	var grants []string
	for range 2 {
		code, err := uc.Authorize(t.Context(), cfg, "s", "")
		require.NoError(t, err)
		tok, err := ucoauth.Exchange(t.Context(), cfg, code)
		require.NoError(t, err)
		require.NotEmpty(t, ucoauth.GrantID(tok))
		grants = append(grants, ucoauth.GrantID(tok))
	}
	assert.NotEqual(t, grants[0], grants[1], "each authorization is a grant of its own")

	store := tokenstore.NewMemory()
	tok := uc.Issue("M", "order_read")
	require.NoError(t, store.Save(t.Context(), "m", tok))
	src := ucoauth.NewTokenSource(cfg, store, "m")
	defer src.Close()
	cur, err := src.Token()
	require.NoError(t, err)
	require.True(t, ucoauth.Invalidate(src, cur)) // refresh now
	refreshed, err := src.Token()
	require.NoError(t, err)
	require.NotEqual(t, cur.AccessToken, refreshed.AccessToken, "precondition: refreshed")
	assert.Equal(t, ucoauth.GrantID(tok), ucoauth.GrantID(refreshed), "the refresh belongs to the same grant")
	assert.Equal(t, "order_read", refreshed.Extra("scope"), "and keeps its scope")
	stored, err := store.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, ucoauth.GrantID(tok), ucoauth.GrantID(stored))
}

// TestRefreshTokenRevokeIsBestEffort: UltraCart revokes the whole grant
// with the access token, and may refuse the refresh token's revoke in any
// words: Revoke still succeeds once the access token is revoked.
func TestRefreshTokenRevokeIsBestEffort(t *testing.T) {
	for name, answer := range map[string]ucoauthtest.RevokeAnswer{
		"UltraCart (401 invalid_token for the refresh token)": ucoauthtest.RevokeUltraCart,
		"400 unsupported_token_type":                          ucoauthtest.RevokeAccessOnly,
	} {
		t.Run(name, func(t *testing.T) {
			uc := ucoauthtest.NewServer()
			defer uc.Close()
			uc.SetRevokeAnswer(answer)
			store := tokenstore.NewMemory()
			require.NoError(t, store.Save(t.Context(), "m", uc.Issue("M")))
			var warned atomic.Bool
			src := ucoauth.NewTokenSource(uc.Config(), store, "m", ucoauth.WithLogger(slog.New(warnFlag{&warned})))
			defer src.Close()
			require.NoError(t, src.Revoke(t.Context()))
			assert.Equal(t, 1, uc.Stats().RevokeRefresh)
			assert.False(t, warned.Load(), "an expected refusal is no warning")
			_, err := store.Load(t.Context(), "m")
			assert.ErrorIs(t, err, ucoauth.ErrRevoked)
		})
	}
	t.Run("a failure is logged, the revoke stands", func(t *testing.T) {
		uc := ucoauthtest.NewServer()
		defer uc.Close()
		uc.SetRevokeAnswer(ucoauthtest.RevokeRFC7009Strict)
		store := tokenstore.NewMemory()
		require.NoError(t, store.Save(t.Context(), "m", uc.Issue("M")))
		var n atomic.Int32
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if strings.HasSuffix(r.URL.Path, "/oauth/revoke") && n.Add(1) == 2 {
				return nil, errors.New("connection reset")
			}
			return http.DefaultTransport.RoundTrip(r)
		})}
		var warned atomic.Bool
		src := ucoauth.NewTokenSource(uc.Config(), store, "m", ucoauth.WithHTTPClient(client), ucoauth.WithLogger(slog.New(warnFlag{&warned})))
		defer src.Close()
		require.NoError(t, src.Revoke(t.Context()))
		assert.True(t, warned.Load(), "the refresh token's revoke failed: logged")
		_, err := store.Load(t.Context(), "m")
		assert.ErrorIs(t, err, ucoauth.ErrRevoked, "the tombstone keeps the grant out all the same")
	})
}

// warnFlag is a slog handler that records whether anything at Warn or
// above was logged.
type warnFlag struct{ warned *atomic.Bool }

func (w warnFlag) Enabled(context.Context, slog.Level) bool { return true }
func (w warnFlag) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		w.warned.Store(true)
	}
	return nil
}
func (w warnFlag) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w warnFlag) WithGroup(string) slog.Handler      { return w }

// flakyStore fails saves with a temporary error while failing is set.
type flakyStore struct {
	*tokenstore.Memory
	failing atomic.Bool
}

type unreachableErr struct{}

func (unreachableErr) Error() string   { return "store unreachable" }
func (unreachableErr) Temporary() bool { return true }

func (f *flakyStore) Save(ctx context.Context, k string, t *oauth2.Token) error {
	if f.failing.Load() {
		return unreachableErr{}
	}
	return f.Memory.Save(ctx, k, t)
}

// TestRetriedSaveMeetingTombstoneDrops: a refreshed token whose save is
// being retried in the background (the store was down) meets a tombstone
// once the store is back: the source drops it instead of serving it from
// memory for good.
func TestRetriedSaveMeetingTombstoneDrops(t *testing.T) {
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	uc.SetRevokeAnswer(ucoauthtest.RevokeAccessOnly)
	store := &flakyStore{Memory: tokenstore.NewMemory()}
	tok := uc.Issue("M")
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	require.NoError(t, store.Save(t.Context(), "m", &expired))
	store.failing.Store(true)
	src := ucoauth.NewTokenSource(uc.Config(), store, "m", ucoauth.WithBackoff(20*time.Millisecond, 40*time.Millisecond))
	defer src.Close()
	got, err := src.Token()
	require.NoError(t, err, "precondition: refreshed, served from memory while the save is retried")
	require.NotEqual(t, tok.AccessToken, got.AccessToken)

	require.NoError(t, store.Tombstone(t.Context(), "m"), "another process revokes")
	store.failing.Store(false)
	for err == nil { // until the background retry met the tombstone
		time.Sleep(5 * time.Millisecond)
		_, err = src.Token()
	}
	assert.ErrorIs(t, err, ucoauth.ErrRevoked)
	assert.Equal(t, ucoauth.StateReauthorizationRequired, src.Status().State)
	_, lerr := store.Load(t.Context(), "m")
	assert.ErrorIs(t, lerr, ucoauth.ErrRevoked, "the tombstone stays")
}

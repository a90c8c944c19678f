package ucoauth_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
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

// logBuffer is a JSON slog logger into a buffer, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(&lockedWriter{w: &l.buf, mu: &l.mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *logBuffer) count(level, msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if strings.Contains(line, `"level":"`+level+`"`) && strings.Contains(line, msg) {
			n++
		}
	}
	return n
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

// TestInvalidClientKeepsTheRefreshTokenAndLogsOncePerStep: the application's
// credentials are refused. That is not the merchant's dead grant: it backs
// off like a temporary failure, is logged at error level once per backoff
// step (not per call), and once the configuration is fixed the same refresh
// token works.
func TestInvalidClientKeepsTheRefreshTokenAndLogsOncePerStep(t *testing.T) {
	f := newFixture(t, time.Hour)
	var logs logBuffer
	src := f.source(ucoauth.WithLogger(logs.logger()), ucoauth.WithBackoff(time.Second, time.Minute))
	defer src.Close()
	f.srv.FailNext(-1, ucoauthtest.Failure{Status: 401, Body: `{"error":"invalid_client","error_description":"bad secret"}`})
	f.clock.Advance(2 * time.Hour)
	for range 300 { // 30 simulated seconds
		_, err := src.Token()
		require.ErrorIs(t, err, ucoauth.ErrInvalidClient)
		require.NotErrorIs(t, err, ucoauth.ErrReauthorizationRequired, "the merchant need not reconnect")
		f.clock.Advance(100 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return logs.count("ERROR", "client credentials") == f.srv.Stats().Refreshes() }, 5*time.Second, 10*time.Millisecond)
	refreshes := f.srv.Stats().Refreshes()
	assert.GreaterOrEqual(t, refreshes, 2, "retried")
	assert.LessOrEqual(t, refreshes, 7, "backed off: 1 s, 2 s, 4 s, 8 s ...")
	assert.Equal(t, refreshes, logs.count("ERROR", "client credentials"), "logged once per backoff step, at error level")
	st := src.Status()
	assert.Equal(t, ucoauth.StateInvalidClient, st.State)
	assert.False(t, st.NextAttempt.IsZero())

	f.srv.ClearFailures() // the configuration is fixed
	f.clock.Advance(2 * time.Minute)
	tok, err := src.Token()
	require.NoError(t, err, "the kept refresh token works")
	assert.NotEqual(t, f.tok.AccessToken, tok.AccessToken)
	assert.Zero(t, f.srv.Stats().InvalidGrant)
}

// naiveStore is a user's own store that trusts what it is given: it keeps
// tokens as they are and refuses, by a plain comparison, to replace one that
// expires later. The tokenstore package's stores distrust impossible
// expiries themselves (see TestFarFutureRecordIsRefreshedAtOnce).
type naiveStore struct {
	mu   sync.Mutex
	toks map[string]oauth2.Token
}

func (n *naiveStore) Load(_ context.Context, key string) (*oauth2.Token, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	tok, ok := n.toks[key]
	if !ok {
		return nil, ucoauth.ErrTokenNotFound
	}
	return &tok, nil
}

func (n *naiveStore) Save(_ context.Context, key string, tok *oauth2.Token) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if old, ok := n.toks[key]; ok && old.Expiry.After(tok.Expiry) {
		return ucoauth.ErrSuperseded
	}
	n.toks[key] = *tok
	return nil
}

func (n *naiveStore) Delete(_ context.Context, key string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.toks, key)
	return nil
}

// TestFarFutureExpiryIsCapped: a stored expiry in year 2200, 3000 or 9999
// (a hand-edited or hostile record in a store that trusts it) neither lives
// forever nor looks expired, and the refresh it ends in is saved over it.
func TestFarFutureExpiryIsCapped(t *testing.T) {
	for _, year := range []int{2200, 3000, 9999} {
		t.Run(fmt.Sprint(year), func(t *testing.T) {
			f := newFixture(t, time.Hour)
			store := &naiveStore{toks: map[string]oauth2.Token{}}
			tok := *f.tok
			tok.Expiry = time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
			tok.ExpiresIn = 1 << 62
			require.NoError(t, store.Save(t.Context(), "m", &tok))
			src := ucoauth.NewTokenSource(f.cfg, store, "m", ucoauth.WithClock(f.clock.Now))
			defer src.Close()
			for range 10 {
				got, err := src.Token()
				require.NoError(t, err)
				assert.Equal(t, tok.AccessToken, got.AccessToken, "served: it does not look expired")
			}
			assert.Zero(t, f.srv.Stats().Refreshes())
			f.clock.Advance(ucoauth.MaxLifetime + time.Minute)
			got, err := src.Token()
			require.NoError(t, err)
			assert.NotEqual(t, tok.AccessToken, got.AccessToken, "refreshed by MaxLifetime at the latest")
			assert.Equal(t, 1, f.srv.Stats().Refreshes())
			stored, err := store.Load(t.Context(), "m")
			require.NoError(t, err)
			assert.Equal(t, got.AccessToken, stored.AccessToken, "the refreshed token replaced the bogus record")
		})
	}
}

// TestFarFutureRecordIsRefreshedAtOnce: the tokenstore package's stores
// load an impossible expiry as already expired, so the source refreshes
// with the record's refresh token at once and the new token replaces it.
func TestFarFutureRecordIsRefreshedAtOnce(t *testing.T) {
	for _, year := range []int{2200, 3000, 9999} {
		t.Run(fmt.Sprint(year), func(t *testing.T) {
			f := newFixture(t, time.Hour)
			tok := *f.tok
			tok.Expiry = time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
			require.NoError(t, f.store.TokenStore.Delete(t.Context(), "m"))
			require.NoError(t, f.store.TokenStore.Save(t.Context(), "m", &tok))
			src := f.source()
			defer src.Close()
			got, err := src.Token()
			require.NoError(t, err)
			assert.NotEqual(t, tok.AccessToken, got.AccessToken, "refreshed, not trusted")
			assert.Equal(t, 1, f.srv.Stats().Refreshes())
			assert.Zero(t, f.srv.Stats().InvalidGrant)
			stored, err := f.store.TokenStore.Load(t.Context(), "m")
			require.NoError(t, err)
			assert.Equal(t, got.AccessToken, stored.AccessToken, "the refreshed token replaced the record")
		})
	}
}

// TestFarPastExpiryLooksExpired: year 1 (a zero-ish date from a broken
// record) must not overflow into looking fresh.
func TestFarPastExpiryLooksExpired(t *testing.T) {
	f := newFixture(t, time.Hour)
	tok := *f.tok
	tok.Expiry = time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)
	require.NoError(t, f.store.TokenStore.Delete(t.Context(), "m"))
	require.NoError(t, f.store.TokenStore.Save(t.Context(), "m", &tok))
	src := f.source()
	defer src.Close()
	got, err := src.Token()
	require.NoError(t, err)
	assert.NotEqual(t, tok.AccessToken, got.AccessToken, "refreshed, not served")
	assert.Equal(t, 1, f.srv.Stats().Refreshes())
}

// TestHugeBackoffSaturates: backoff deadlines beyond 2262 (int64
// nanoseconds) must saturate, not wrap into the past and retry at once.
func TestHugeBackoffSaturates(t *testing.T) {
	f := newFixture(t, time.Hour)
	const century = 100 * 365 * 24 * time.Hour
	const backoff = 280 * 365 * 24 * time.Hour // near the largest Duration
	src := f.source(ucoauth.WithBackoff(backoff, backoff))
	defer src.Close()
	f.srv.FailNext(-1, ucoauthtest.Failure{Status: 500, Body: "down"})
	f.clock.Advance(century) // year ~2126: plus 140-280 years is past 2262
	for range 20 {
		_, err := src.Token()
		require.Error(t, err)
		f.clock.Advance(time.Hour)
	}
	assert.Equal(t, 1, f.srv.Stats().Refreshes(), "backing off, not retrying on every call")
	assert.Equal(t, ucoauth.StateBackingOff, src.Status().State)
}

// corruptStore answers Load with a corrupt-record error while corrupt is
// set; a successful Save replaces the record, as the stores do. saveErr,
// when set, makes every Save fail with it.
type corruptStore struct {
	ucoauth.TokenStore
	corrupt atomic.Bool
	saveErr error
	saves   atomic.Int32
}

func (c *corruptStore) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	if c.corrupt.Load() {
		return nil, fmt.Errorf("%w: not JSON (12 bytes)", tokenstore.ErrCorrupt)
	}
	return c.TokenStore.Load(ctx, key)
}

func (c *corruptStore) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	c.saves.Add(1)
	if c.saveErr != nil {
		return c.saveErr
	}
	if err := c.TokenStore.Save(ctx, key, tok); err != nil {
		return err
	}
	c.corrupt.Store(false)
	return nil
}

// TestCorruptRecordIsReplacedByARefreshFromMemory: the stored record went
// bad while the source holds a good refresh token in memory: refresh from
// memory and save, replacing the record.
func TestCorruptRecordIsReplacedByARefreshFromMemory(t *testing.T) {
	f := newFixture(t, time.Hour)
	cs := &corruptStore{TokenStore: f.store}
	var logs logBuffer
	src := ucoauth.NewTokenSource(f.cfg, cs, "m", ucoauth.WithClock(f.clock.Now), ucoauth.WithLogger(logs.logger()))
	defer src.Close()
	_, err := src.Token()
	require.NoError(t, err)
	cs.corrupt.Store(true)
	f.clock.Advance(2 * time.Hour)

	tok, err := src.Token()
	require.NoError(t, err, "refreshed from memory despite the corrupt record")
	assert.NotEqual(t, f.tok.AccessToken, tok.AccessToken)
	assert.False(t, cs.corrupt.Load(), "the save replaced the record")
	stored, err := cs.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, tok.RefreshToken, stored.RefreshToken)
	assert.Equal(t, 1, logs.count("WARN", "replaced an unreadable stored record"))
}

// TestPermanentSaveFailureKeepsTheTokenWithoutARetryLoop: a store that
// refuses the save for good (it read the record, but will not take the new
// one): the refreshed token is served from memory, the failure logged at
// error level, and the save not retried in a loop. (A record the store
// cannot read and will not replace is not refreshed over at all: see
// TestUnreadableRecordTheStoreKeepsIsNotRefreshedOver.)
func TestPermanentSaveFailureKeepsTheTokenWithoutARetryLoop(t *testing.T) {
	f := newFixture(t, time.Hour)
	cs := &corruptStore{TokenStore: f.store, saveErr: fmt.Errorf("%w: unsupported version 9 (this build reads 1)", tokenstore.ErrCorrupt)}
	var logs logBuffer
	src := ucoauth.NewTokenSource(f.cfg, cs, "m", ucoauth.WithClock(f.clock.Now), ucoauth.WithLogger(logs.logger()),
		ucoauth.WithBackoff(time.Millisecond, 10*time.Millisecond))
	defer src.Close()
	_, err := src.Token()
	require.NoError(t, err)
	f.clock.Advance(2 * time.Hour)

	tok, err := src.Token()
	require.NoError(t, err)
	assert.NotEqual(t, f.tok.AccessToken, tok.AccessToken)
	time.Sleep(200 * time.Millisecond) // a retry loop at 1-10 ms would show
	assert.Equal(t, int32(1), cs.saves.Load(), "a permanent refusal is not retried")
	assert.Equal(t, 1, logs.count("ERROR", "for good"))
	for range 10 {
		got, err := src.Token()
		require.NoError(t, err)
		assert.Equal(t, tok.AccessToken, got.AccessToken, "served from memory")
	}
}

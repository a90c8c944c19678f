package ucoauth_test

// Times at the edges of what a Duration or a date holds (far-future and
// far-past expiries, sub-second lifetimes, huge backoffs and timeouts) must
// neither overflow nor make a source refresh in a loop.

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
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

// A refresh timeout as long as a Duration holds (a careless "no timeout")
// must not overflow into a deadline already past, failing every refresh.
func TestHugeRefreshTimeoutStillRefreshes(t *testing.T) {
	var tokN atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := tokN.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, stormOK(n, "3600"))
	}))
	defer srv.Close()
	cfg := &oauth2.Config{ClientID: "cid", ClientSecret: "csecret-123456",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(t.Context(), "k", &oauth2.Token{AccessToken: "AT-old-xxxx", RefreshToken: "RT-old-yyyy", Expiry: time.Now().Add(-time.Hour)}))
	src := ucoauth.NewTokenSource(cfg, store, "k", ucoauth.WithRefreshTimeout(time.Duration(math.MaxInt64)))
	defer src.Close()
	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, "AT-1-xxxxxxxx", tok.AccessToken)
}

// A sub-second expires_in must not make a TokenSource refresh on every call.
func TestSubSecondLifetimeNoRefreshLoop(t *testing.T) {
	for _, v := range []string{`"0.001"`, `"1e-300"`, `0.0001`} {
		t.Run(v, func(t *testing.T) {
			uc := ucoauthtest.NewServer()
			defer uc.Close()
			uc.SetExpiresIn(v)
			store := tokenstore.NewMemory()
			old := uc.Issue("M")
			old.Expiry = time.Now().Add(-time.Minute)
			require.NoError(t, store.Save(t.Context(), "m", old))
			src := ucoauth.NewTokenSource(uc.Config(), store, "m")
			start := time.Now()
			for range 100 {
				tok, err := src.Token()
				require.NoError(t, err)
				require.NotNil(t, tok)
				time.Sleep(2 * time.Millisecond)
			}
			elapsed := time.Since(start)
			// One refresh per second at most: MinLifetime 2 s, early window 1 s.
			limit := 2 + int(elapsed/time.Second)
			assert.LessOrEqual(t, uc.Stats().Refreshes(), limit, "%d refreshes in %v", uc.Stats().Refreshes(), elapsed)
			tok, err := src.Token()
			require.NoError(t, err)
			assert.Equal(t, int64(ucoauth.MinLifetime/time.Second), tok.ExpiresIn)
		})
	}
}

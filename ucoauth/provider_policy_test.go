package ucoauth_test

import (
	"encoding/json"
	"fmt"
	"io"
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
)

// agingProvider is jsonProvider with a RefreshPolicy: 30-day tokens,
// refreshed after 7 days, overdue after 8, keeping the merchant's ID. It
// reads merchant_id from the answer as an extra.
type agingProvider struct{ jsonProvider }

func (agingProvider) Policy() ucoauth.RefreshPolicy {
	return ucoauth.RefreshPolicy{MaxLifetime: 30 * day, RefreshAfterAge: 7 * day, StaleAfter: 8 * day,
		Extras: []string{"merchant_id"}}
}

func (p agingProvider) ParseToken(a *ucoauth.Answer) (*oauth2.Token, error) {
	tok, err := p.jsonProvider.ParseToken(a)
	if tok == nil {
		return nil, err
	}
	var v struct {
		MerchantID string `json:"merchant_id"`
	}
	_ = json.Unmarshal(a.Body, &v)
	if v.MerchantID != "" {
		tok = tok.WithExtra(map[string]any{"merchant_id": v.MerchantID})
	}
	return tok, err
}

const day = 24 * time.Hour

// agingServer grants 30-day tokens on a clock the test moves, with the
// merchant's ID only on the code exchange (a refresh answer may lack it).
type agingServer struct {
	*httptest.Server
	mu        sync.Mutex
	now       time.Time
	n         int
	refreshes atomic.Int32
}

func newAgingServer(t *testing.T) *agingServer {
	s := &agingServer{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.n++
		merchant := ""
		if body["grant_type"] == "authorization_code" {
			merchant = `,"merchant_id":"MLX1"`
		} else {
			s.refreshes.Add(1)
		}
		fmt.Fprintf(w, `{"access_token":"aat-%d","token_type":"bearer","expires_at":%q,"refresh_token":"art-%d"%s}`,
			s.n, s.now.Add(30*day).Format(time.RFC3339), s.n, merchant)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *agingServer) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func (s *agingServer) advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = s.now.Add(d)
}

// A provider's RefreshPolicy: its 30-day lifetime is kept (not cut to
// MaxLifetime), through Exchange and a store; the token turns stale by age
// after 7 days, not 5 minutes before its expiry; Status reports it overdue
// after 8; and the merchant's ID survives Exchange, the file store and a
// refresh whose answer lacks it.
func TestProviderRefreshPolicyLifetimeAgeAndExtras(t *testing.T) {
	srv := newAgingServer(t)
	cfg := &oauth2.Config{ClientID: "jid-1", ClientSecret: jsonClientSecret, Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/oauth2/token"}}
	opts := []ucoauth.EndpointOption{ucoauth.WithProvider(agingProvider{}), ucoauth.WithClock(srv.clock)}
	ctx := t.Context()

	tok, err := ucoauth.Exchange(ctx, cfg, "jcode-1", opts[0], opts[1])
	require.NoError(t, err)
	assert.Equal(t, srv.clock().Add(30*day), tok.Expiry.UTC(), "the provider's 30 days, not MaxLifetime")
	assert.Equal(t, "MLX1", tok.Extra("merchant_id"), "a kept extra reaches the caller of Exchange")
	assert.Equal(t, map[string]string{"merchant_id": "MLX1"}, ucoauth.ProviderExtras(tok))
	assert.NotEmpty(t, ucoauth.GrantID(tok))

	store, err := tokenstore.NewFile(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, store.Save(ctx, "m", tok))
	loaded, err := store.Load(ctx, "m")
	require.NoError(t, err)
	assert.Equal(t, "MLX1", loaded.Extra("merchant_id"), "the store keeps the extra")
	assert.Equal(t, tok.Expiry.UTC(), loaded.Expiry.UTC(), "and the 30-day expiry, trusted")
	assert.Equal(t, ucoauth.GrantID(tok), ucoauth.GrantID(loaded))

	events := make(chan ucoauth.RefreshEvent, 4)
	src := ucoauth.NewTokenSource(cfg, store, "m", opts[0], opts[1],
		ucoauth.WithRefreshHook(func(ev ucoauth.RefreshEvent) { events <- ev }))
	defer src.Close()
	got, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, got.AccessToken)

	srv.advance(6 * day)
	st := src.Status()
	assert.Equal(t, ucoauth.StateFresh, st.State, "6 days old: fresh")
	assert.False(t, st.Overdue)
	assert.Equal(t, srv.clock().Add(-6*day), st.Issued.UTC())

	srv.advance(day + time.Minute)
	assert.Equal(t, ucoauth.StateStale, src.Status().State, "7 days old: stale by age, 23 days before expiry")
	srv.advance(day)
	st = src.Status()
	assert.True(t, st.Overdue, "8 days without a refresh: overdue")

	got, err = src.Token() // stale: served, refreshed in the background
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, got.AccessToken)
	ev := <-events
	require.NoError(t, ev.Err)
	assert.EqualValues(t, 1, srv.refreshes.Load())
	fresh, err := src.Token()
	require.NoError(t, err)
	assert.NotEqual(t, tok.AccessToken, fresh.AccessToken)
	assert.Equal(t, "MLX1", fresh.Extra("merchant_id"), "a refresh answer without the extra keeps the old value")
	assert.Equal(t, ucoauth.GrantID(tok), ucoauth.GrantID(fresh))
	st = src.Status()
	assert.Equal(t, ucoauth.StateFresh, st.State)
	assert.False(t, st.Overdue)
	saved, err := store.Load(ctx, "m")
	require.NoError(t, err)
	assert.Equal(t, fresh.AccessToken, saved.AccessToken)
	assert.Equal(t, "MLX1", saved.Extra("merchant_id"), "saved with the refreshed token")
}

// Without a RefreshPolicy (UltraCart's case), nothing changes: a 30-day
// answer is bounded to MaxLifetime, no extra is kept, nothing is overdue.
func TestProviderWithoutPolicyKeepsTheDefaults(t *testing.T) {
	srv := newAgingServer(t)
	cfg := &oauth2.Config{ClientID: "jid-1", ClientSecret: jsonClientSecret, Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/oauth2/token"}}
	tok, err := ucoauth.Exchange(t.Context(), cfg, "jcode-1", ucoauth.WithProvider(jsonProvider{}), ucoauth.WithClock(srv.clock))
	require.NoError(t, err)
	assert.Equal(t, srv.clock().Add(ucoauth.MaxLifetime), tok.Expiry.UTC())
	assert.Nil(t, tok.Extra("merchant_id"))
	assert.Nil(t, ucoauth.ProviderExtras(tok))
}

package interop_test

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/interop/fositeserver"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

const merchant = "MERCHANT-42"

func newServer(t *testing.T) *fositeserver.Server {
	t.Helper()
	return newServerWith(t, fositeserver.Options{})
}

func newServerWith(t *testing.T, o fositeserver.Options) *fositeserver.Server {
	t.Helper()
	srv := fositeserver.New(o)
	t.Cleanup(srv.Close)
	return srv
}

// connect runs the code flow for cfg and exchanges the code with ucoauth.
func connect(t *testing.T, srv *fositeserver.Server, cfg *oauth2.Config) *oauth2.Token {
	t.Helper()
	code, err := srv.Authorize(t.Context(), cfg, "state-0123456789")
	require.NoError(t, err)
	require.NotEmpty(t, code)
	tok, err := ucoauth.Exchange(t.Context(), cfg, code, generic(srv.URL))
	require.NoError(t, err)
	return tok
}

// generic is the RFC 6749/7009 provider for a fosite server at url: fosite
// is not UltraCart, and its revoke endpoint is [fositeserver.RevokePath].
func generic(url string) ucoauth.EndpointOption {
	return ucoauth.WithProvider(ucoauth.RFC6749(url + fositeserver.RevokePath))
}

// call makes one API call and decodes the answer of a 200.
func call(c *http.Client, req *http.Request) (int, fositeserver.Whoami, error) {
	var who fositeserver.Whoami
	resp, err := c.Do(req)
	if err != nil {
		return 0, who, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		err = json.NewDecoder(resp.Body).Decode(&who)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode, who, err
}

func get(t *testing.T, c *http.Client, url string) (int, fositeserver.Whoami, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	return call(c, req)
}

// skewedClock is a clock a test can move forward, to make a token expire
// without waiting.
type skewedClock struct{ skew atomic.Int64 }

func (c *skewedClock) now() time.Time      { return time.Now().Add(time.Duration(c.skew.Load())) }
func (c *skewedClock) add(d time.Duration) { c.skew.Add(int64(d)) }

// TestFositeCodeExchange: ucoauth.Exchange reads fosite's token response
// (expires_in as a JSON number) and the API accepts the token through
// ucoauth.NewClient.
func TestFositeCodeExchange(t *testing.T) {
	srv := newServer(t)
	cfg := srv.PostConfig()
	before := time.Now()
	tok := connect(t, srv, cfg)

	assert.NotEmpty(t, tok.AccessToken)
	assert.NotEmpty(t, tok.RefreshToken)
	assert.Equal(t, "bearer", strings.ToLower(tok.TokenType))
	assert.Equal(t, ucoauth.ScopeOrderRead, tok.Extra("scope"))
	st := srv.Stats()
	require.Positive(t, st.MinExpiresIn)
	assert.Equal(t, st.MinExpiresIn, tok.ExpiresIn, "expires_in, a JSON number, was read")
	assert.WithinRange(t, tok.Expiry, before.Add(time.Duration(tok.ExpiresIn)*time.Second),
		time.Now().Add(time.Duration(tok.ExpiresIn)*time.Second))

	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(t.Context(), merchant, tok))
	client := ucoauth.NewClient(t.Context(), ucoauth.NewTokenSource(cfg, store, merchant, generic(srv.URL)))
	status, who, err := get(t, client, srv.APIURL())
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, fositeserver.Subject, who.Subject)
	assert.Equal(t, fositeserver.PostClientID, who.ClientID)
	assert.Equal(t, ucoauth.ScopeOrderRead, who.Scope)

	st = srv.Stats()
	assert.Equal(t, 1, st.Exchanges)
	assert.Zero(t, st.Refreshes)
	assert.Empty(t, st.TokenErrors)
	assert.Equal(t, 1, st.APIOK)

	// The API is really protected: no token, or a made-up one, is a 401.
	status, _, err = get(t, http.DefaultClient, srv.APIURL())
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _, err = get(t, oauth2.NewClient(t.Context(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "ory_at_forged.sig"})), srv.APIURL())
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, status)
}

// TestFositeRotationReuseDetection shows that fosite rotates refresh tokens
// and catches reuse: after ucoauth refreshes once, replaying the old refresh
// token kills the whole token family. A library that refreshed twice with
// one refresh token would be caught the same way.
func TestFositeRotationReuseDetection(t *testing.T) {
	srv := newServer(t)
	cfg := srv.PostConfig()
	tok0 := connect(t, srv, cfg)

	var clock skewedClock
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(t.Context(), merchant, tok0))
	src := ucoauth.NewTokenSource(cfg, store, merchant, ucoauth.WithClock(clock.now), generic(srv.URL))
	clock.add(time.Hour) // tok0 has expired
	tok1, err := src.Token()
	require.NoError(t, err)
	require.Equal(t, 1, srv.Stats().Refreshes)
	assert.NotEqual(t, ucoauth.Fingerprint(tok0.AccessToken), ucoauth.Fingerprint(tok1.AccessToken))
	assert.NotEqual(t, ucoauth.Fingerprint(tok0.RefreshToken), ucoauth.Fingerprint(tok1.RefreshToken), "fosite rotates the refresh token")
	stored, err := store.Load(t.Context(), merchant)
	require.NoError(t, err)
	assert.Equal(t, ucoauth.Fingerprint(tok1.RefreshToken), ucoauth.Fingerprint(stored.RefreshToken), "the rotated refresh token was saved")

	api := func(tok *oauth2.Token) int {
		status, _, err := get(t, oauth2.NewClient(t.Context(), oauth2.StaticTokenSource(tok)), srv.APIURL())
		require.NoError(t, err)
		return status
	}
	require.Equal(t, http.StatusOK, api(tok1))

	// Replay the rotated-away refresh token, as a second refresher would.
	status, code, err := srv.RefreshDirect(t.Context(), cfg, tok0.RefreshToken)
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", code)
	st := srv.Stats()
	assert.Equal(t, 1, st.ReuseDetected)
	assert.Equal(t, 1, st.InvalidGrant())

	// The family is dead: the new access token and the new refresh token too.
	assert.Equal(t, http.StatusUnauthorized, api(tok1), "reuse revoked the live access token")
	_, code, err = srv.RefreshDirect(t.Context(), cfg, tok1.RefreshToken)
	require.NoError(t, err)
	assert.Equal(t, "invalid_grant", code, "reuse revoked the live refresh token")

	// ucoauth reports the dead grant as such.
	clock.add(time.Hour)
	_, err = src.Token()
	assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	assert.NotErrorIs(t, err, ucoauth.ErrInvalidClient)
}

// TestFosite401Recovers: fosite invalidates the access token the source
// serves while it is still unexpired; the next call through NewClient gets
// the 401 internally, refreshes once and succeeds, replaying a body too.
func TestFosite401Recovers(t *testing.T) {
	srv := newServer(t)
	cfg := srv.PostConfig()
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(t.Context(), merchant, connect(t, srv, cfg)))
	// Refreshes that the API's refusals force are paced one backoff step
	// apart; a step of a nanosecond (jittered to 0) lets this test refuse
	// twice in a row at any speed. (A millisecond step failed without -race:
	// the second refusal came within it and was paced, not refreshed.)
	src := ucoauth.NewTokenSource(cfg, store, merchant, ucoauth.WithBackoff(time.Nanosecond, time.Nanosecond), generic(srv.URL))
	client := ucoauth.NewClient(t.Context(), src)

	status, _, err := get(t, client, srv.APIURL())
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)

	for i, method := range []string{http.MethodGet, http.MethodPost} {
		served, err := src.Token()
		require.NoError(t, err)
		require.NoError(t, srv.RevokeAccessToken(t.Context(), served.AccessToken))

		body := ""
		var rd io.Reader
		if method == http.MethodPost {
			body = `{"order_id":"DEMO-0001"}`
			rd = strings.NewReader(body) // replayable: NewRequest sets GetBody
		}
		req, err := http.NewRequestWithContext(t.Context(), method, srv.APIURL(), rd)
		require.NoError(t, err)
		status, who, err := call(client, req)
		require.NoError(t, err, method)
		assert.Equal(t, http.StatusOK, status, "%s recovered from the 401", method)
		assert.Equal(t, method, who.Method)
		assert.Equal(t, body, who.Body, "the retried request arrived whole")

		st := srv.Stats()
		assert.Equal(t, i+1, st.APIRejected, "one 401 per superseded token")
		assert.Equal(t, i+1, st.Refreshes, "one refresh per 401")
		assert.Zero(t, st.InvalidGrant())
		now, err := src.Token()
		require.NoError(t, err)
		assert.NotEqual(t, ucoauth.Fingerprint(served.AccessToken), ucoauth.Fingerprint(now.AccessToken), "the rejected token was dropped")
	}
}

// TestFositeRevoke: TokenSource.Revoke against fosite's RFC 7009 endpoint
// (an empty 200) succeeds, empties the store, and kills the grant.
func TestFositeRevoke(t *testing.T) {
	srv := newServer(t)
	cfg := srv.PostConfig()
	dir := filepath.Join(t.TempDir(), "tokens")
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	tok := connect(t, srv, cfg)
	require.NoError(t, store.Save(t.Context(), merchant, tok))
	src := ucoauth.NewTokenSource(cfg, store, merchant, generic(srv.URL))
	status, _, err := get(t, ucoauth.NewClient(t.Context(), src), srv.APIURL())
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)

	require.NoError(t, src.Revoke(t.Context()))
	assert.Equal(t, 2, srv.Stats().Revocations, "the access token, then the refresh token (token_type_hint=refresh_token)")
	assert.Zero(t, srv.Stats().RevokeErrors)
	_, err = store.Load(t.Context(), merchant)
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound, "the store no longer has the token")
	_, err = src.Token()
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound)

	status, _, err = get(t, oauth2.NewClient(t.Context(), oauth2.StaticTokenSource(tok)), srv.APIURL())
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, status, "the API rejects the revoked token")
	_, code, err := srv.RefreshDirect(t.Context(), cfg, tok.RefreshToken)
	require.NoError(t, err)
	assert.Equal(t, "invalid_grant", code, "fosite revoked the refresh token with it")

	// The package-level Revoke too, on a second grant.
	tok2 := connect(t, srv, cfg)
	require.NoError(t, ucoauth.Revoke(t.Context(), cfg, tok2.AccessToken, generic(srv.URL)))
	status, _, err = get(t, oauth2.NewClient(t.Context(), oauth2.StaticTokenSource(tok2)), srv.APIURL())
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, status)
}

// TestFositeBasicAuth: a config with AuthStyleInHeader works against the
// client_secret_basic client, for the code exchange and for refreshes.
func TestFositeBasicAuth(t *testing.T) {
	srv := newServer(t)

	// Not vacuous: fosite enforces the registered method, so credentials in
	// the form are refused for this client.
	t.Run("form credentials refused", func(t *testing.T) {
		cfg := srv.BasicConfig()
		cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		code, err := srv.Authorize(t.Context(), cfg, "state-0123456789")
		require.NoError(t, err)
		_, err = ucoauth.Exchange(t.Context(), cfg, code, generic(srv.URL))
		require.Error(t, err)
		var e *ucoauth.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, "invalid_client", e.Code)
		assert.Equal(t, 1, srv.Stats().InvalidClient())
	})

	t.Run("basic", func(t *testing.T) {
		before := srv.Stats()
		cfg := srv.BasicConfig()
		tok := connect(t, srv, cfg)
		var clock skewedClock
		store := tokenstore.NewMemory()
		require.NoError(t, store.Save(t.Context(), merchant, tok))
		src := ucoauth.NewTokenSource(cfg, store, merchant, ucoauth.WithClock(clock.now), generic(srv.URL))
		clock.add(time.Hour)
		tok1, err := src.Token()
		require.NoError(t, err, "refresh with HTTP Basic")
		assert.NotEqual(t, ucoauth.Fingerprint(tok.RefreshToken), ucoauth.Fingerprint(tok1.RefreshToken))
		status, who, err := get(t, ucoauth.NewClient(t.Context(), src), srv.APIURL())
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, fositeserver.BasicClientID, who.ClientID)

		st := srv.Stats()
		assert.Equal(t, before.Exchanges+1, st.Exchanges)
		assert.Equal(t, before.Refreshes+1, st.Refreshes)
		assert.Equal(t, before.InvalidClient(), st.InvalidClient())
	})
}

// TestFositeInvalidClient: a wrong client secret is ErrInvalidClient, not a
// dead grant, both at the code exchange and at a refresh, and the refresh
// token is kept for when the configuration is fixed.
func TestFositeInvalidClient(t *testing.T) {
	srv := newServer(t)
	good := srv.PostConfig()
	bad := srv.PostConfig()
	bad.ClientSecret = "wrong-secret-7d1c"

	code, err := srv.Authorize(t.Context(), bad, "state-0123456789")
	require.NoError(t, err)
	_, err = ucoauth.Exchange(t.Context(), bad, code, generic(srv.URL))
	require.Error(t, err)
	assert.ErrorIs(t, err, ucoauth.ErrInvalidClient)
	assert.NotErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	assert.NotContains(t, err.Error(), bad.ClientSecret)
	assert.NotContains(t, err.Error(), code)

	tok := connect(t, srv, good)
	var clock skewedClock
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(t.Context(), merchant, tok))
	src := ucoauth.NewTokenSource(bad, store, merchant, ucoauth.WithClock(clock.now), generic(srv.URL))
	clock.add(time.Hour)
	_, err = src.Token()
	require.Error(t, err)
	assert.ErrorIs(t, err, ucoauth.ErrInvalidClient)
	assert.NotErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	assert.NotContains(t, err.Error(), tok.RefreshToken)
	assert.NotContains(t, err.Error(), bad.ClientSecret)
	assert.Equal(t, 2, srv.Stats().InvalidClient())
	assert.Zero(t, srv.Stats().InvalidGrant())

	stored, err := store.Load(t.Context(), merchant)
	require.NoError(t, err)
	assert.Equal(t, ucoauth.Fingerprint(tok.RefreshToken), ucoauth.Fingerprint(stored.RefreshToken), "the refresh token is kept")
	// And it still works once the secret is right.
	status, _, err := srv.RefreshDirect(t.Context(), good, stored.RefreshToken)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
}

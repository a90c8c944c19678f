package ucoauth_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/internal/ultracart"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// The generic provider revokes at the URL it was given (RFC 7009, with
// token_type_hint for the refresh token), and its API calls carry no
// UltraCart header.
func TestRFC6749ProviderRevokesAtItsURLWithoutUltraCartHeaders(t *testing.T) {
	rs := newRaw(t, 200, okBody)
	cfg := rs.config("client-secret-1")
	p := ucoauth.WithProvider(ucoauth.RFC6749(rs.URL + "/oauth2/revoke"))

	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(t.Context(), "m", &oauth2.Token{AccessToken: "AT-generic-1", RefreshToken: "RT-generic-1",
		Expiry: time.Now().Add(time.Hour)}))
	src := ucoauth.NewTokenSource(cfg, store, "m", p)
	defer src.Close()

	resp, err := ucoauth.NewClient(t.Context(), src).Get(rs.URL + "/api/thing")
	require.NoError(t, err)
	resp.Body.Close()
	_, hdr := rs.last()
	assert.Equal(t, "Bearer AT-generic-1", hdr.Get("Authorization"))
	assert.Empty(t, hdr.Get(ultracart.HeaderAPIVersion), "UltraCart's header goes to UltraCart only")

	require.NoError(t, src.Revoke(t.Context()))
	rs.mu.Lock()
	paths, forms := append([]string(nil), rs.paths...), rs.forms
	rs.mu.Unlock()
	require.Len(t, paths, 3, "the API call, then the access and the refresh token revoked")
	assert.Equal(t, []string{"POST /oauth2/revoke", "POST /oauth2/revoke"}, paths[1:])
	assert.Equal(t, "AT-generic-1", forms[1].Get("token"))
	assert.Equal(t, "RT-generic-1", forms[2].Get("token"))
	assert.Equal(t, "refresh_token", forms[2].Get("token_type_hint"))
}

// The default provider is UltraCart's: its Transport adds the API version
// header, and an explicit one is kept.
func TestUltraCartProviderAddsItsAPIHeader(t *testing.T) {
	rs := newRaw(t, 200, okBody)
	cfg := rs.config("")
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(t.Context(), "m", &oauth2.Token{AccessToken: "AT-uc-1", RefreshToken: "RT-uc-1",
		Expiry: time.Now().Add(time.Hour)}))
	src := ucoauth.NewTokenSource(cfg, store, "m")
	defer src.Close()
	c := ucoauth.NewClient(t.Context(), src)

	resp, err := c.Get(rs.URL + "/rest/v2/order/orders")
	require.NoError(t, err)
	resp.Body.Close()
	_, hdr := rs.last()
	assert.Equal(t, ultracart.APIVersion, hdr.Get(ultracart.HeaderAPIVersion))

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, rs.URL+"/rest/v2/order/orders", nil)
	require.NoError(t, err)
	req.Header.Set(ultracart.HeaderAPIVersion, "2099-01-01")
	resp, err = c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	_, hdr = rs.last()
	assert.Equal(t, "2099-01-01", hdr.Get(ultracart.HeaderAPIVersion), "the caller's own version is kept")
}

// A generic provider without a revoke URL says so instead of guessing one.
func TestRFC6749ProviderWithoutRevokeURL(t *testing.T) {
	rs := newRaw(t, 200, okBody)
	err := ucoauth.Revoke(t.Context(), rs.config(""), "AT-generic-2", ucoauth.WithProvider(ucoauth.RFC6749("")))
	var e *ucoauth.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "revoke", e.Op)
	assert.Contains(t, err.Error(), "no revoke endpoint")
	rs.mu.Lock()
	defer rs.mu.Unlock()
	assert.Empty(t, rs.paths, "nothing was sent")
}

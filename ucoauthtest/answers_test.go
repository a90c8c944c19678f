package ucoauthtest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
	"golang.org/x/oauth2"
)

func postAs(t *testing.T, srv *ucoauthtest.Server, path string, form url.Values, basic bool) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.BaseURL()+path, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(srv.ClientID), url.QueryEscape(srv.ClientSecret))
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestSetClientAuth(t *testing.T) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.ClientSecret = "se cret+/"
	tok := srv.Issue("M")
	inForm := url.Values{"client_id": {srv.ClientID}, "client_secret": {srv.ClientSecret}, "token": {tok.AccessToken}}
	bare := url.Values{"token": {tok.AccessToken}}
	refused := []struct {
		style oauth2.AuthStyle
		form  url.Values
		basic bool
	}{
		{oauth2.AuthStyleInParams, bare, true},     // Basic where the form is wanted
		{oauth2.AuthStyleInHeader, inForm, false},  // the form where Basic is wanted
		{oauth2.AuthStyleInHeader, inForm, true},   // two methods at once
		{oauth2.AuthStyleAutoDetect, inForm, true}, // two methods at once
	}
	for _, tc := range refused {
		srv.SetClientAuth(tc.style)
		resp := postAs(t, srv, "/oauth/revoke", tc.form, tc.basic)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "style %d basic %v", tc.style, tc.basic)
	}
	// Accepted: each style with its own credentials.
	srv.SetClientAuth(oauth2.AuthStyleInHeader)
	assert.Equal(t, 200, postAs(t, srv, "/oauth/revoke", bare, true).StatusCode)
	srv.SetClientAuth(oauth2.AuthStyleInParams)
	tok2 := srv.Issue("M")
	assert.Equal(t, 200, postAs(t, srv, "/oauth/revoke", url.Values{"client_id": {srv.ClientID}, "client_secret": {srv.ClientSecret}, "token": {tok2.AccessToken}}, false).StatusCode)
}

func TestRevokeRFC7009AndRedirect(t *testing.T) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetRevokeAnswer(ucoauthtest.RevokeRFC7009)
	form := url.Values{"client_id": {srv.ClientID}, "token": {"unknown-token"}}
	resp := postAs(t, srv, "/oauth/revoke", form, false)
	assert.Equal(t, 200, resp.StatusCode, "RFC 7009: 200 for an unknown token too")
	assert.Zero(t, resp.ContentLength)

	srv.FailNext(1, ucoauthtest.Redirect("/oauth/revoke", http.StatusTemporaryRedirect, "https://elsewhere.example/x"))
	resp = postAs(t, srv, "/oauth/revoke", form, false)
	assert.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	assert.Equal(t, "https://elsewhere.example/x", resp.Header.Get("Location"))
}

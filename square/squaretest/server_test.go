package squaretest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/square/squaretest"
)

// post sends a raw JSON body, so that the fake is checked against Square's
// wire and not against the square package's reading of it.
func post(t *testing.T, url, auth, contentType string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var m map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&m))
	return res.StatusCode, res.Header, m
}

func TestTokenAnswerIsSquaresJSON(t *testing.T) {
	sq := squaretest.NewServer()
	defer sq.Close()
	tok := sq.IssuePKCE("M1", "A")
	status, h, m := post(t, sq.URL+"/oauth2/token", "", "application/json", map[string]any{
		"client_id": sq.ClientID, "grant_type": "refresh_token", "refresh_token": tok.RefreshToken})
	require.Equal(t, http.StatusOK, status, m)
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	assert.Equal(t, "bearer", m["token_type"])
	assert.Equal(t, "M1", m["merchant_id"])
	assert.Equal(t, false, m["short_lived"])
	assert.NotContains(t, m, "expires_in", "Square gives expires_at, not expires_in")
	for _, k := range []string{"expires_at", "refresh_token_expires_at"} {
		s, ok := m[k].(string)
		require.True(t, ok, k)
		_, err := time.Parse(time.RFC3339, s)
		assert.NoError(t, err, k)
	}
}

func TestTokenEndpointRefusesForms(t *testing.T) {
	sq := squaretest.NewServer()
	defer sq.Close()
	res, err := http.PostForm(sq.URL+"/oauth2/token", map[string][]string{"client_id": {sq.ClientID}})
	require.NoError(t, err)
	defer res.Body.Close()
	var m struct{ Errors []square.APIError }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&m))
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.Len(t, m.Errors, 1)
	assert.Equal(t, "INVALID_CONTENT_TYPE", m.Errors[0].Code)
}

func TestCodeFlowRefreshNeedsTheSecret(t *testing.T) {
	sq := squaretest.NewServer()
	defer sq.Close()
	tok := sq.Issue("M1")
	status, _, m := post(t, sq.URL+"/oauth2/token", "", "application/json", map[string]any{
		"client_id": sq.ClientID, "grant_type": "refresh_token", "refresh_token": tok.RefreshToken})
	assert.Equal(t, http.StatusBadRequest, status, m)
	status, _, m = post(t, sq.URL+"/oauth2/token", "", "application/json", map[string]any{
		"client_id": sq.ClientID, "client_secret": sq.ClientSecret, "grant_type": "refresh_token", "refresh_token": tok.RefreshToken})
	assert.Equal(t, http.StatusOK, status, m)
	assert.Equal(t, tok.RefreshToken, m["refresh_token"])
}

func TestRevokeNeedsAuthorizationClient(t *testing.T) {
	sq := squaretest.NewServer()
	defer sq.Close()
	tok := sq.Issue("M1")
	body := map[string]any{"client_id": sq.ClientID, "access_token": tok.AccessToken}
	for _, auth := range []string{"", "Bearer " + tok.AccessToken, "Client wrong", "Basic " + sq.ClientSecret, "client " + sq.ClientSecret} {
		status, _, m := post(t, sq.URL+"/oauth2/revoke", auth, "application/json", body)
		assert.Equal(t, http.StatusUnauthorized, status, "%q: %v", auth, m)
	}
	status, _, m := post(t, sq.URL+"/oauth2/revoke", "Client "+sq.ClientSecret, "application/json", body)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, m["success"])
	assert.Equal(t, 6, sq.Stats().Revoke)
}

func TestDisconnectMerchantKillsEveryToken(t *testing.T) {
	sq := squaretest.NewServer()
	defer sq.Close()
	sq.Issue("M1")
	sq.IssuePKCE("M1")
	sq.Issue("M2")
	assert.Equal(t, 4, sq.DisconnectMerchant("M1"), "two access and two refresh tokens")
	assert.Zero(t, sq.DisconnectMerchant("M1"))
}

func TestFailNextPathsAndCounts(t *testing.T) {
	sq := squaretest.NewServer()
	defer sq.Close()
	tok := sq.Issue("M1")
	sq.FailNext(2, squaretest.RateLimited(3*time.Second+time.Millisecond))
	sq.FailNext(1, squaretest.Failure{Path: "/oauth2/token/status", Status: 500, Body: `{}`})
	body := map[string]any{"client_id": sq.ClientID, "client_secret": sq.ClientSecret, "grant_type": "refresh_token", "refresh_token": tok.RefreshToken}
	for range 2 {
		status, h, m := post(t, sq.URL+"/oauth2/token", "", "application/json", body)
		assert.Equal(t, http.StatusTooManyRequests, status)
		assert.Equal(t, "4", h.Get("Retry-After"), "rounded up to whole seconds")
		assert.Contains(t, m, "errors")
	}
	status, _, _ := post(t, sq.URL+"/oauth2/token", "", "application/json", body)
	assert.Equal(t, http.StatusOK, status, "the token failures ran out")
	status, _, _ = post(t, sq.URL+"/oauth2/token/status", "Bearer "+tok.AccessToken, "application/json", map[string]any{})
	assert.Equal(t, http.StatusInternalServerError, status)
	status, _, _ = post(t, sq.URL+"/oauth2/token/status", "Bearer "+tok.AccessToken, "application/json", map[string]any{})
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, 3, sq.Stats().Injected)

	sq.FailNext(0, squaretest.Unavailable())
	sq.FailNext(-1, squaretest.Unavailable())
	status, _, _ = post(t, sq.URL+"/oauth2/token", "", "application/json", body)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	sq.ClearFailures()
	status, _, _ = post(t, sq.URL+"/oauth2/token", "", "application/json", body)
	assert.Equal(t, http.StatusOK, status)
}

func TestStandaloneServesOnYourOwnServer(t *testing.T) {
	var sq *squaretest.Server
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sq.Handler().ServeHTTP(w, r) }))
	defer srv.Close()
	sq = squaretest.NewStandalone(srv.URL)
	tok := sq.Issue("M1")
	st, err := square.NewClient(sq.Config()).Status(t.Context(), tok.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, "M1", st.MerchantID)
	sq.Close() // nothing to close; must not panic
}

func TestAPICallNeedsALiveToken(t *testing.T) {
	sq := squaretest.NewServer()
	defer sq.Close()
	tok := sq.Issue("M1")
	get := func(tokStr, version string) int {
		req, err := http.NewRequest(http.MethodGet, sq.URL+"/v2/merchants/me", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tokStr)
		req.Header.Set(square.HeaderVersion, version)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	assert.Equal(t, http.StatusOK, get(tok.AccessToken, "2025-10-16"))
	assert.Equal(t, "2025-10-16", sq.Stats().LastVersion)
	assert.Equal(t, http.StatusUnauthorized, get("EAAAnope", "2025-10-16"))
	assert.Equal(t, 2, sq.Stats().API)
}

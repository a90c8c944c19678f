package ucoauthtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ucoauth/go-ucoauth/internal/ultracart"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

func post(t *testing.T, u string, form url.Values) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), string(b))
	return resp, m
}

func TestTokenShapesAreUltraCarts(t *testing.T) {
	s := ucoauthtest.NewServer()
	defer s.Close()
	code, err := s.Authorize(t.Context(), s.Config(), "st", "")
	require.NoError(t, err)
	resp, body := post(t, s.BaseURL()+"/oauth/token", url.Values{"client_id": {s.ClientID}, "grant_type": {"authorization_code"},
		"code": {code}, "redirect_uri": {s.RedirectURL}})
	assert.Equal(t, 200, resp.StatusCode)
	for _, f := range []string{"access_token", "token_type", "refresh_token", "expires_in"} {
		assert.IsType(t, "", body[f], "%s is a string", f)
	}
	assert.Equal(t, "bearer", body["token_type"])
	assert.Equal(t, "3600", body["expires_in"])

	// The code is single-use, and the error carries UC-REST-ERROR.
	resp, body = post(t, s.BaseURL()+"/oauth/token", url.Values{"client_id": {s.ClientID}, "grant_type": {"authorization_code"}, "code": {code}})
	assert.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, "invalid_grant", body["error"])
	assert.NotEmpty(t, resp.Header.Get(ultracart.HeaderRESTError))
	assert.Equal(t, 1, s.Stats().InvalidGrant)
	assert.Equal(t, 2, s.Stats().Token["authorization_code"])
}

func TestClientAuthentication(t *testing.T) {
	s := ucoauthtest.NewServer()
	defer s.Close()
	rt := s.Issue("M").RefreshToken
	resp, body := post(t, s.BaseURL()+"/oauth/token", url.Values{"client_id": {s.ClientID}, "client_secret": {"wrong"},
		"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	assert.Equal(t, 401, resp.StatusCode)
	assert.Equal(t, "invalid_client", body["error"])
	resp, _ = post(t, s.BaseURL()+"/oauth/token", url.Values{"client_id": {s.ClientID}, "grant_type": {"refresh_token"}, "refresh_token": {rt}})
	assert.Equal(t, 200, resp.StatusCode, "no secret at all is accepted, as UltraCart's SDKs send none")
}

func TestRotation(t *testing.T) {
	s := ucoauthtest.NewServer()
	defer s.Close()
	rt := s.Issue("M").RefreshToken
	form := url.Values{"client_id": {s.ClientID}, "grant_type": {"refresh_token"}, "refresh_token": {rt}}
	resp, body := post(t, s.BaseURL()+"/oauth/token", form)
	require.Equal(t, 200, resp.StatusCode)
	assert.NotEqual(t, rt, body["refresh_token"])
	resp, body = post(t, s.BaseURL()+"/oauth/token", form)
	assert.Equal(t, 400, resp.StatusCode, "a rotated-away refresh token is dead")
	assert.Equal(t, "invalid_grant", body["error"])

	s.SetRotation(false)
	rt2 := body["refresh_token"]
	assert.Nil(t, rt2)
	rt = s.Issue("M").RefreshToken
	form.Set("refresh_token", rt)
	for range 2 {
		resp, body = post(t, s.BaseURL()+"/oauth/token", form)
		assert.Equal(t, 200, resp.StatusCode, "without rotation the refresh token lives on")
		assert.NotContains(t, body, "refresh_token")
	}
}

func TestAuthorizeRedirects(t *testing.T) {
	s := ucoauthtest.NewServer()
	defer s.Close()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(s.BaseURL() + "/oauth/authorize?response_type=code&client_id=" + s.ClientID + "&state=xyz&redirect_uri=" + url.QueryEscape("https://app.example/cb?a=1"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	loc, err := resp.Location()
	require.NoError(t, err)
	assert.Equal(t, "app.example", loc.Host)
	assert.Equal(t, "xyz", loc.Query().Get("state"))
	assert.Equal(t, "1", loc.Query().Get("a"))
	assert.NotEmpty(t, loc.Query().Get("code"))

	resp, err = c.Get(s.BaseURL() + "/oauth/authorize?response_type=code&client_id=" + s.ClientID) // no state
	require.NoError(t, err)
	resp.Body.Close()
	loc, err = resp.Location()
	require.NoError(t, err)
	assert.Equal(t, "invalid_request", loc.Query().Get("error"))
}

func TestFailNextLatencyAndAPI(t *testing.T) {
	s := ucoauthtest.NewServer()
	defer s.Close()
	tok := s.Issue("M")
	s.FailNext(2, ucoauthtest.Failure{Status: 503, Body: "busy", Header: http.Header{"Retry-After": {"3"}}})
	form := url.Values{"client_id": {s.ClientID}, "grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
	for range 2 {
		resp, err := http.PostForm(s.BaseURL()+"/oauth/token", form)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 503, resp.StatusCode)
		assert.Equal(t, "3", resp.Header.Get("Retry-After"))
	}
	resp, _ := post(t, s.BaseURL()+"/oauth/token", form)
	assert.Equal(t, 200, resp.StatusCode, "only the next 2 fail")
	assert.Equal(t, 2, s.Stats().Injected)
	assert.Equal(t, 3, s.Stats().Refreshes())

	s.SetLatency(150 * time.Millisecond)
	start := time.Now()
	resp, _ = post(t, s.BaseURL()+"/oauth/revoke", url.Values{"client_id": {s.ClientID}, "token": {tok.AccessToken}})
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "latency is added")
	assert.Equal(t, 200, resp.StatusCode)

	req, _ := http.NewRequest("GET", s.BaseURL()+"/order/orders", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set(ultracart.HeaderAPIVersion, ultracart.APIVersion)
	r, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	assert.Equal(t, 401, r.StatusCode, "a revoked token is refused")
	assert.True(t, strings.Contains(string(b), `"success":false`), string(b))
	assert.NotEmpty(t, r.Header.Get(ultracart.HeaderRESTError))
}

// TestStatsStayBounded: a client sending ever new grant types cannot make
// the fake's counters grow without bound.
func TestStatsStayBounded(t *testing.T) {
	s := ucoauthtest.NewServer()
	defer s.Close()
	for i := range 100 {
		gt := "bogus-" + strconv.Itoa(i)
		if i%2 == 1 {
			gt = strings.Repeat("g", 1000) + gt
		}
		resp, body := post(t, s.BaseURL()+"/oauth/token", url.Values{"client_id": {s.ClientID}, "grant_type": {gt}})
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Equal(t, "unsupported_grant_type", body["error"])
	}
	resp, _ := post(t, s.BaseURL()+"/oauth/token", url.Values{"client_id": {s.ClientID}, "grant_type": {"refresh_token"}, "refresh_token": {"x"}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	st := s.Stats()
	assert.Len(t, st.Token, 33, "32 keys, then refresh_token")
	assert.Equal(t, 1, st.Token["bogus-0"], "a short grant type among the first counts under its name")
	assert.Equal(t, 69, st.Token["(other)"], "the long ones, and the short ones once 32 keys are taken")
	assert.Equal(t, 1, st.Refreshes(), "a grant type the fake serves counts under its name, however full")
	total := 0
	for _, n := range st.Token {
		total += n
	}
	assert.Equal(t, 101, total, "every request is counted")
}

// FailNext(0, f) fails the next zero requests: none. Only a negative count
// fails every request.
func TestFailNextZeroFailsNothing(t *testing.T) {
	s := ucoauthtest.NewServer()
	defer s.Close()
	tok := s.Issue("DEMO")
	s.FailNext(0, ucoauthtest.Failure{Status: 503, Body: "busy"})
	for range 3 {
		resp, body := post(t, s.BaseURL()+"/oauth/token", url.Values{"client_id": {s.ClientID}, "client_secret": {s.ClientSecret},
			"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
		require.Equal(t, 200, resp.StatusCode, "%v", body)
		tok.RefreshToken = body["refresh_token"].(string)
	}
	assert.Zero(t, s.Stats().Injected)
}

package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

func get(t *testing.T, c *http.Client, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestConnectCallOrdersDisconnect(t *testing.T) {
	fake := ucoauthtest.NewServer()
	defer fake.Close()
	store, err := tokenstore.NewFile(t.TempDir())
	require.NoError(t, err)
	cfg := fake.Config(ucoauth.ScopeOrderRead)
	a := newApp(cfg, store, fake.BaseURL())
	web := httptest.NewServer(a.routes())
	defer web.Close()
	cfg.RedirectURL = web.URL + "/callback"
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar} // follows UltraCart's redirect back, like a browser

	status, body := get(t, browser, "GET", web.URL+"/orders?merchant=M1")
	assert.Equal(t, http.StatusConflict, status, "not connected yet: %s", body)

	status, body = get(t, browser, "GET", web.URL+"/connect?merchant=M1")
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "connected M1\n", body)
	assert.Equal(t, 1, fake.Stats().Token["authorization_code"])

	status, body = get(t, browser, "GET", web.URL+"/orders?merchant=M1")
	assert.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"success":true`)

	status, body = get(t, browser, "POST", web.URL+"/disconnect?merchant=M1")
	assert.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, 1, fake.Stats().Revoke)
	status, _ = get(t, browser, "GET", web.URL+"/orders?merchant=M1")
	assert.Equal(t, http.StatusConflict, status, "disconnected")
}

func TestCallbackRejectsForgedState(t *testing.T) {
	fake := ucoauthtest.NewServer()
	defer fake.Close()
	store := tokenstore.NewMemory()
	web := httptest.NewServer(newApp(fake.Config(), store, fake.BaseURL()).routes())
	defer web.Close()
	status, body := get(t, http.DefaultClient, "GET", web.URL+"/callback?code=stolen&state=forged")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.True(t, strings.Contains(body, "bad state"))
	assert.Zero(t, fake.Stats().Token["authorization_code"], "no exchange without a matching state")

	status, _ = get(t, http.DefaultClient, "GET", web.URL+"/callback?error=access_denied")
	assert.Equal(t, http.StatusForbidden, status)
}

package main

import (
	"fmt"
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

// TestErrorPageShowsNoToken: an API answer whose status line's reason
// phrase echoes the Authorization header (any text may follow the code)
// was shown on the error page, the merchant's new access token in it.
func TestErrorPageShowsNoToken(t *testing.T) {
	fake := ucoauthtest.NewServer()
	t.Cleanup(fake.Close)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 500 echo %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", r.Header.Get("Authorization"))
		_ = buf.Flush()
	}))
	t.Cleanup(api.Close)
	store, err := tokenstore.NewFile(t.TempDir())
	require.NoError(t, err)
	cfg := fake.Config(ucoauth.ScopeOrderRead)
	a, err := newApp(cfg, store, api.URL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.mgr.Close() })
	web := httptest.NewServer(a.routes())
	t.Cleanup(web.Close)
	cfg.RedirectURL = web.URL + "/callback"
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)

	status, body := do(t, &http.Client{Jar: jar}, "GET", web.URL+"/connect", nil)
	assert.Equal(t, http.StatusBadGateway, status)
	require.Contains(t, body, "could not tell which merchant connected", "precondition: the API call failed")
	assert.Contains(t, body, "500")
	assert.NotContains(t, body, "Bearer")
	assert.False(t, strings.Contains(body, "at-"), "the access token is on the page: %s", body)
}

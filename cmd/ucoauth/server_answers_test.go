package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// hostile is an UltraCart that answers whatever the test says.
type hostile struct {
	*httptest.Server
	mu      sync.Mutex
	answers map[string]http.HandlerFunc // by path under /rest/v2/oauth/
}

// answer sets the token and device endpoints' handlers (nil keeps one).
func (h *hostile) answer(token, device http.HandlerFunc) {
	if token != nil {
		h.on("token", token)
	}
	if device != nil {
		h.on("device/authorize", device)
	}
}

// on sets the handler of /rest/v2/oauth/path.
func (h *hostile) on(path string, f http.HandlerFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.answers[path] = f
}

func newHostile(t *testing.T) *hostile {
	h := &hostile{answers: map[string]http.HandlerFunc{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		f := h.answers[strings.TrimPrefix(r.URL.Path, "/rest/v2/oauth/")]
		h.mu.Unlock()
		if f == nil {
			http.NotFound(w, r)
			return
		}
		f(w, r)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hostile) env(dir string) []string {
	return baseEnv("UCOAUTH_STORE=file:"+dir, "ULTRACART_BASE_URL="+h.URL+"/rest/v2",
		"ULTRACART_CLIENT_ID="+clientID, "ULTRACART_CLIENT_SECRET="+clientSecret)
}

// js is s as a JSON string.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// noControl asserts s holds no control character but newlines.
func noControl(t *testing.T, s string) {
	t.Helper()
	for _, r := range s {
		if r != '\n' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)) {
			assert.Failf(t, "a control character reached the terminal", "%q in %q", r, s)
			return
		}
	}
}

// TestServerTextCannotDriveTheTerminal: what a server sends (an error code,
// a scope, a device code) is shown with its control characters escaped, so
// it cannot move the cursor, retitle the window or forge lines.
func TestServerTextCannotDriveTheTerminal(t *testing.T) {
	const evil = "x\x1b]0;pwned\x07\x1b[2J\rforged\u009b"
	h := newHostile(t)
	h.answer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":%s}`, js("bad"+evil))
	}, nil)
	dir := t.TempDir()
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	ctx := context.Background()
	tok := (&oauth2.Token{AccessToken: "AT-hostile-1", RefreshToken: "RT-hostile-1", TokenType: "bearer",
		Expiry: time.Now().Add(-time.Minute)}).WithExtra(map[string]any{"scope": "order_read" + evil})
	require.NoError(t, store.Save(ctx, "M1", tok))

	r := runCmd(t, h.env(dir), "refresh", "M1")
	oneLineError(t, r, 1, "ucoauth refresh: ")
	noControl(t, r.stderr)
	assert.Contains(t, r.stderr, `\x1b`, "shown escaped")

	// A scope UltraCart granted is shown in the status table.
	r = runCmd(t, h.env(dir), "status")
	require.Equal(t, 0, r.code, r.stderr)
	noControl(t, r.stdout)
	assert.Len(t, strings.Split(strings.TrimSpace(r.stdout), "\n"), 2, "one line per key: %q", r.stdout)
	assert.Contains(t, r.stdout, `order_readx\x1b]0;pwned`, "shown escaped")

	// The device flow's codes and links.
	h.answer(nil, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"device_code":"dc-1","user_code":%s,"verification_uri":%s,"expires_in":"60","interval":"1"}`, js("UC"+evil), js(h.URL+"/device"+evil))
	})
	h.answer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"access_denied"}`)
	}, nil)
	r = runCmd(t, h.env(dir), "login", "-key", "D1", "-device")
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Contains(t, r.stderr, "access_denied")
	assert.Contains(t, r.stderr, `UCx\x1b]0;pwned`)
	noControl(t, r.stderr)
}

// TestLoginDeviceUsesUltraCartsShapes: the device flow reads UltraCart's
// answers (numbers as strings) and never follows a redirect of the device
// endpoint, which would send the client's credentials elsewhere.
func TestLoginDeviceUsesUltraCartsShapes(t *testing.T) {
	h := newHostile(t)
	h.answer(nil, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"device_code":"dc-1","user_code":"ABCD1234","verification_uri":"%s/device","expires_in":"600","interval":"1"}`, h.URL)
	})
	var polls atomic.Int32
	h.answer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.PostFormValue("device_code") != "dc-1" || polls.Add(1) == 1 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"authorization_pending"}`)
			return
		}
		fmt.Fprint(w, `{"access_token":"AT-device-1","refresh_token":"RT-device-1","token_type":"bearer","expires_in":"3600"}`)
	}, nil)
	dir := t.TempDir()
	r := runCmd(t, h.env(dir), "login", "-key", "D1", "-device")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "enter the code ABCD1234")
	got, err := loadToken(t, dir, "D1")
	require.NoError(t, err)
	assert.Equal(t, "AT-device-1", got.AccessToken)
	noSecrets(t, r.stderr, "AT-device-1", "RT-device-1")

	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	h.answer(nil, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
	})
	r = runCmd(t, h.env(t.TempDir()), "login", "-key", "D2", "-device")
	oneLineError(t, r, 1, "ucoauth login: ")
	assert.Zero(t, elsewhere.Load(), "the redirect was not followed")
	assert.Contains(t, r.stderr, "redirect")
}

// TestRevokeKeepsTheTokenWhenUltraCartFails: a revoke UltraCart does not
// confirm (404, 500, a redirect) fails with status 1 and leaves the token in
// the store, so that it can be tried again; one UltraCart calls dead
// (invalid_token) is deleted.
func TestRevokeKeepsTheTokenWhenUltraCartFails(t *testing.T) {
	h := newHostile(t)
	dir := t.TempDir()
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	tok := &oauth2.Token{AccessToken: "AT-revoke-1", RefreshToken: "RT-revoke-1", TokenType: "bearer",
		Expiry: time.Now().Add(time.Hour)}
	require.NoError(t, store.Save(context.Background(), "M1", tok))

	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	for _, c := range []struct {
		name string
		f    http.HandlerFunc
	}{
		{"404", http.NotFound},
		{"500", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusInternalServerError) }},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
		}},
	} {
		h.on("revoke", c.f)
		r := runCmd(t, h.env(dir), "revoke", "M1")
		oneLineError(t, r, 1, "ucoauth revoke: ")
		got, err := loadToken(t, dir, "M1")
		require.NoError(t, err, "%s: the token stays for another try", c.name)
		assert.Equal(t, tok.RefreshToken, got.RefreshToken, c.name)
		noSecrets(t, r.stderr, tok.AccessToken, tok.RefreshToken)
	}
	assert.Zero(t, elsewhere.Load(), "the revoke's redirect was not followed")

	h.on("revoke", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"error_code":"invalid_token","developer_message":"revoked"},"success":false}`)
	})
	r := runCmd(t, h.env(dir), "revoke", "M1")
	require.Equal(t, 0, r.code, r.stderr)
	_, err = loadToken(t, dir, "M1")
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound, "a token UltraCart calls dead is deleted")
}

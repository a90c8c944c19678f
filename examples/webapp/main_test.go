package main

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
	"golang.org/x/oauth2"
)

func do(t *testing.T, c *http.Client, method, u string, form url.Values, header ...string) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

type fixture struct {
	fake    *ucoauthtest.Server
	store   *tokenstore.File
	web     *httptest.Server
	browser *http.Client
}

// newFixture runs the app against a fake UltraCart. The browser follows
// redirects with a cookie jar; at UltraCart it signs in as merchant.
func newFixture(t *testing.T, merchant string) *fixture {
	fake := ucoauthtest.NewServer()
	t.Cleanup(fake.Close)
	store, err := tokenstore.NewFile(t.TempDir())
	require.NoError(t, err)
	cfg := fake.Config(ucoauth.ScopeOrderRead)
	a, err := newApp(cfg, store, fake.BaseURL())
	require.NoError(t, err)
	web := httptest.NewServer(a.routes())
	t.Cleanup(web.Close)
	cfg.RedirectURL = web.URL + "/callback"
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasSuffix(req.URL.Path, "/oauth/authorize") {
			// The merchant signs in at UltraCart: the fake names the grant's
			// merchant after merchant_id.
			q := req.URL.Query()
			q.Set("merchant_id", merchant)
			req.URL.RawQuery = q.Encode()
		}
		return nil
	}}
	return &fixture{fake: fake, store: store, web: web, browser: browser}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func TestConnectCallOrdersDisconnect(t *testing.T) {
	f := newFixture(t, "M42")
	ctx := context.Background()

	status, _ := do(t, f.browser, "GET", f.web.URL+"/orders", nil)
	assert.Equal(t, http.StatusUnauthorized, status, "not signed in yet")

	// The merchant is who the grant says, whatever the link claims.
	status, body := do(t, f.browser, "GET", f.web.URL+"/connect?merchant=EVIL", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, "Connected as M42")
	assert.Equal(t, 1, f.fake.Stats().Token["authorization_code"])
	_, err := f.store.Load(ctx, "M42")
	assert.NoError(t, err, "stored under the grant's merchant")
	_, err = f.store.Load(ctx, "EVIL")
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound, "never under the merchant the link named")

	status, body = do(t, f.browser, "GET", f.web.URL+"/orders?merchant=OTHER", nil)
	assert.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"merchant_id":"M42"`, "the session decides, not the query")

	// Disconnect: a POST only, from the app's own page, with its CSRF token.
	_, home := do(t, f.browser, "GET", f.web.URL+"/", nil)
	m := csrfField.FindStringSubmatch(home)
	require.Len(t, m, 2, home)
	csrf := m[1]

	status, _ = do(t, f.browser, "GET", f.web.URL+"/disconnect", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, status, "a link cannot disconnect")
	status, _ = do(t, f.browser, "POST", f.web.URL+"/disconnect", url.Values{})
	assert.Equal(t, http.StatusForbidden, status, "no CSRF token")
	status, _ = do(t, f.browser, "POST", f.web.URL+"/disconnect", url.Values{"csrf": {strings.Repeat("0", 64)}})
	assert.Equal(t, http.StatusForbidden, status, "a wrong CSRF token")
	status, _ = do(t, f.browser, "POST", f.web.URL+"/disconnect", url.Values{"csrf": {csrf}}, "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, status, "a form on another site")
	status, _ = do(t, f.browser, "POST", f.web.URL+"/disconnect", url.Values{"csrf": {csrf}}, "Origin", "https://evil.example")
	assert.Equal(t, http.StatusForbidden, status, "another origin")
	assert.Zero(t, f.fake.Stats().Revoke, "nothing was revoked by the refused requests")

	status, body = do(t, f.browser, "POST", f.web.URL+"/disconnect", url.Values{"csrf": {csrf}}, "Sec-Fetch-Site", "same-origin")
	assert.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, "Connect your UltraCart account", "signed out")
	assert.Equal(t, 1, f.fake.Stats().Revoke)
	_, err = f.store.Load(ctx, "M42")
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound, "the token is deleted")
	status, _ = do(t, f.browser, "GET", f.web.URL+"/orders", nil)
	assert.Equal(t, http.StatusUnauthorized, status, "disconnected")
}

func TestSessionCannotBeForged(t *testing.T) {
	f := newFixture(t, "M1")
	status, _ := do(t, f.browser, "GET", f.web.URL+"/connect", nil)
	require.Equal(t, http.StatusOK, status)
	forged := &http.Client{}
	for _, v := range []string{"4d31", "4d31.", "4d32.00", "4d31." + strings.Repeat("a", 64), "zz.zz"} {
		status, _ = do(t, forged, "GET", f.web.URL+"/orders", nil, "Cookie", sessionCookie+"="+v)
		assert.Equal(t, http.StatusUnauthorized, status, "cookie %q", v)
	}
}

func TestCallbackRejectsForgedState(t *testing.T) {
	f := newFixture(t, "M1")
	status, body := do(t, http.DefaultClient, "GET", f.web.URL+"/callback?code=stolen&state=forged", nil)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "bad state")
	status, _ = do(t, http.DefaultClient, "GET", f.web.URL+"/callback?code=stolen&state=", nil, "Cookie", stateCookie+"=")
	assert.Equal(t, http.StatusBadRequest, status, "an empty state matches nothing")
	assert.Zero(t, f.fake.Stats().Token["authorization_code"], "no exchange without a matching state")

	status, _ = do(t, http.DefaultClient, "GET", f.web.URL+"/callback?error=access_denied&state=s", nil, "Cookie", stateCookie+"=s")
	assert.Equal(t, http.StatusForbidden, status)
}

func TestTokenDirectoryIsIgnoredByGit(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git")
	}
	out, err := exec.Command(git, "check-ignore", "tokens/M1.json").CombinedOutput()
	if strings.Contains(string(out), "not a git repository") {
		t.Skip("not in a git checkout")
	}
	assert.NoError(t, err, "the default -tokens directory must be ignored by git: %s", out)
}

// TestWebappSealsWithUCOAUTH_SEAL_KEYS: with UCOAUTH_SEAL_KEYS set, the
// web app's token store holds only ciphertext; a bad key is refused.
func TestWebappSealsWithUCOAUTH_SEAL_KEYS(t *testing.T) {
	t.Setenv("UCOAUTH_SEAL_KEYS", "")
	mem := tokenstore.NewMemory()
	same, err := sealFromEnv(mem)
	require.NoError(t, err)
	assert.Same(t, mem, same, "no keys, no sealing")

	t.Setenv("UCOAUTH_SEAL_KEYS", "k2:"+base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789ABCDEF"))+
		",k1:"+base64.StdEncoding.EncodeToString([]byte("fedcba9876543210FEDCBA9876543210")))
	sealed, err := sealFromEnv(mem)
	require.NoError(t, err)
	require.NoError(t, sealed.Save(t.Context(), "m", &oauth2.Token{AccessToken: "at-plain", RefreshToken: "rt-plain", Expiry: time.Now().Add(time.Hour)}))
	raw, err := mem.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(raw.AccessToken, "ucs1:k2:"), "sealed with the primary (first) key")
	assert.True(t, strings.HasPrefix(raw.RefreshToken, "ucs1:k2:"))
	back, err := sealed.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, "rt-plain", back.RefreshToken)

	t.Setenv("UCOAUTH_SEAL_KEYS", "k1:not-32-bytes")
	_, err = sealFromEnv(mem)
	assert.ErrorIs(t, err, tokenstore.ErrSealConfig, "a bad key is refused, never ignored")
}

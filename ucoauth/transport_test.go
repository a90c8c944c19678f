package ucoauth_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/internal/ultracart"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

func get(t *testing.T, c *http.Client, url string) (int, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestTransport401ManyCallersOneRefresh: the API refuses the token the
// source serves (its expiry says valid); every concurrent caller that saw
// the 401 shares one refresh and is retried once with the new token.
func TestTransport401ManyCallersOneRefresh(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t)
	defer src.Close()
	client := ucoauth.NewClient(t.Context(), src)
	api := f.srv.BaseURL() + "/order/orders"
	code, err := get(t, client, api)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)

	require.True(t, f.srv.RejectToken(f.tok.AccessToken))
	f.srv.SetLatency(100 * time.Millisecond) // the refresh takes a while: callers pile up
	const n = 40
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			code, err := get(t, client, api)
			assert.NoError(t, err)
			assert.Equal(t, http.StatusOK, code, "retried once with the new token")
		})
	}
	close(start)
	wg.Wait()
	st := f.srv.Stats()
	assert.Equal(t, 1, st.Refreshes(), "40 callers refused the same token: one refresh")
	assert.LessOrEqual(t, st.APIRejected, n, "each request was refused at most once")
	tok, err := src.Token()
	require.NoError(t, err)
	assert.NotEqual(t, f.tok.AccessToken, tok.AccessToken, "the refused token is not served again")
	stored, err := f.store.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, stored.AccessToken, "the new token was saved")
}

// onceReader is a body that cannot be replayed: http.NewRequest sets no
// GetBody for it.
type onceReader struct{ io.Reader }

func TestTransport401NonReplayableBodyReturnsThe401(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t)
	defer src.Close()
	client := ucoauth.NewClient(t.Context(), src)
	api := f.srv.BaseURL() + "/order/orders"
	require.True(t, f.srv.RejectToken(f.tok.AccessToken))

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, api, onceReader{strings.NewReader(`{"a":1}`)})
	require.NoError(t, err)
	require.Nil(t, req.GetBody, "precondition: the body cannot be replayed")
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a spent body is not resent: the 401 is returned")
	assert.Equal(t, 1, f.srv.Stats().API)

	code, err := get(t, client, api)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code, "the next call uses a new token")
	assert.Equal(t, 1, f.srv.Stats().Refreshes())

	// A replayable body (GetBody set) is resent. (A minute on, so that the
	// refusal does not count as a streak; see the next test.)
	f.clock.Advance(2 * time.Minute)
	tok, err := src.Token()
	require.NoError(t, err)
	require.True(t, f.srv.RejectToken(tok.AccessToken))
	req, err = http.NewRequestWithContext(t.Context(), http.MethodPost, api, bytes.NewReader([]byte(`{"a":1}`)))
	require.NoError(t, err)
	resp, err = client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 2, f.srv.Stats().Refreshes())
}

// TestTransportDeadGrant: the merchant revoked the app. The API refuses
// the token, the refresh says invalid_grant: the caller gets
// ErrReauthorizationRequired, and further calls cost UltraCart nothing,
// though the store still holds the refused token with a valid expiry.
func TestTransportDeadGrant(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t)
	defer src.Close()
	client := ucoauth.NewClient(t.Context(), src)
	api := f.srv.BaseURL() + "/order/orders"
	require.NoError(t, ucoauth.Revoke(t.Context(), f.cfg, f.tok.AccessToken), "the merchant disconnects")

	_, err := get(t, client, api)
	require.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	before := f.srv.Stats()
	assert.Equal(t, 1, before.API, "one API request, refused")
	assert.Equal(t, 1, before.Refreshes(), "one refresh, refused")
	assert.Equal(t, 1, before.InvalidGrant)

	stored, err := f.store.Load(t.Context(), "m")
	require.NoError(t, err)
	require.Equal(t, f.tok.AccessToken, stored.AccessToken, "precondition: the store still holds the refused token")
	for range 50 {
		_, err := get(t, client, api)
		require.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
		_, err = src.Token()
		require.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
		f.clock.Advance(100 * time.Millisecond) // store looks happen, at most one a second
	}
	f.clock.Advance(time.Hour) // past every backoff: still no request
	_, err = get(t, client, api)
	require.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	after := f.srv.Stats()
	assert.Equal(t, before.API, after.API, "no API request with the refused token")
	assert.Equal(t, before.Token, after.Token, "no token request for the dead grant")
	assert.LessOrEqual(t, int(f.store.loads.Load()), 2+7+2, "the store is read at most about once a (simulated) second")

	// The merchant reconnects, through another process: picked up on demand.
	fresh := f.srv.Issue("DEMO", ucoauth.ScopeOrderRead)
	require.NoError(t, f.store.TokenStore.Save(t.Context(), "m", fresh))
	f.clock.Advance(2 * time.Second)
	code, err := get(t, client, api)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, before.Refreshes(), f.srv.Stats().Refreshes(), "the reconnected token is fresh: adopted, not refreshed")
}

// TestReconnectIsPickedUpWithinSeconds: on real time, a reconnect saved
// by another handle on the store is served within a couple of seconds,
// without Manager.Forget and without another request for the dead token.
func TestReconnectIsPickedUpWithinSeconds(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t)
	defer src.Close()
	f.srv.FailNext(1, failInvalidGrant)
	f.clock.Advance(2 * time.Hour)
	_, err := src.Token()
	require.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	tokenRequests := f.srv.Stats().Refreshes()

	fresh := f.srv.Issue("DEMO")
	other := ucoauth.NewTokenSource(f.cfg, f.store, "m") // another handle, as another process
	defer other.Close()
	require.NoError(t, f.store.TokenStore.Save(t.Context(), "m", fresh))
	require.Eventually(t, func() bool {
		tok, err := src.Token()
		return err == nil && tok.AccessToken == fresh.AccessToken
	}, 5*time.Second, 20*time.Millisecond, "the reconnect was not picked up")
	assert.Equal(t, tokenRequests, f.srv.Stats().Refreshes(), "no request for the dead token while waiting")
}

var failInvalidGrant = ucoauthtest.Failure{Status: 400, Body: `{"error":"invalid_grant","error_description":"revoked"}`}

// TestTransportOrigin: the token goes to the API's origin only. A redirect
// the client follows to another host goes without Authorization and is not
// refused.
func TestTransportOrigin(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t)
	defer src.Close()
	var elsewhere atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Store(r.Header.Get("Authorization") + "|" + r.Header.Get(ultracart.HeaderAPIVersion))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer other.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, other.URL+"/landing", http.StatusFound)
	}))
	defer redirector.Close()

	// By default the origin is the token endpoint's.
	client := ucoauth.NewClient(t.Context(), src)
	code, err := get(t, client, f.srv.BaseURL()+"/order/orders")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code)
	code, err = get(t, client, other.URL+"/direct")
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, code, "not refused")
	assert.Equal(t, "|", elsewhere.Load(), "no token, no API header to another origin")

	// Settable, and a followed redirect to another host gets no token.
	client = &http.Client{Transport: &ucoauth.Transport{Source: src, Origin: redirector.URL}}
	elsewhere.Store("unset")
	code, err = get(t, client, redirector.URL+"/api")
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, code, "the redirect was followed")
	assert.Equal(t, "|", elsewhere.Load(), "the token stayed on its origin")
	code, err = get(t, client, f.srv.BaseURL()+"/order/orders")
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, code, "the fake API is not the origin now: sent without token and version")
}

// TestTransportAPIRefusingEverythingBacksOff: an API that refuses every
// token, even freshly refreshed ones, must not turn calls into a refresh
// storm: repeated refusals back off like failed refreshes.
func TestTransportAPIRefusingEverythingBacksOff(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t)
	defer src.Close()
	var apiCalls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apiCalls.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer api.Close()
	client := &http.Client{Transport: &ucoauth.Transport{Source: src, Origin: api.URL}}
	for range 100 {
		resp, err := client.Get(api.URL + "/x")
		if err == nil {
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			resp.Body.Close()
		}
		f.clock.Advance(100 * time.Millisecond) // 10 simulated seconds in all
	}
	refreshes := f.srv.Stats().Refreshes()
	assert.GreaterOrEqual(t, refreshes, 2, "refused tokens are refreshed")
	assert.LessOrEqual(t, refreshes, 6, "backoff: 1 s, 2 s, 4 s ... not one refresh per call")
	assert.LessOrEqual(t, int(apiCalls.Load()), 2*refreshes+2, "no request loop")
}

// recorder is a base transport that records what it was asked to send.
type recorder struct{ got *http.Request }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got = req
	return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody, Request: req}, nil
}

// FuzzTransportOrigin: whatever the URL and the configured origin, the
// token goes only to the origin's host, and the caller's request is never
// modified.
func FuzzTransportOrigin(f *testing.F) {
	for _, seed := range [][2]string{
		{"https://secure.ultracart.com/rest/v2/x", "https://secure.ultracart.com"},
		{"https://secure.ultracart.com:443/x", "https://secure.ultracart.com"},
		{"https://SECURE.ultracart.com/x", "https://secure.ultracart.com"},
		{"https://secure.ultracart.com.evil.example/x", "https://secure.ultracart.com"},
		{"https://evil.example/x?u=https://secure.ultracart.com", "https://secure.ultracart.com"},
		{"https://secure.ultracart.com@evil.example/x", "https://secure.ultracart.com"},
		{"http://secure.ultracart.com/x", "https://secure.ultracart.com"},
		{"https://secure.ultracart.com:8443/x", "https://secure.ultracart.com"},
		{"http://127.0.0.1:8080/x", "http://127.0.0.1:8080"},
		{"http://[::1]:80/x", "http://[::1]"},
		{"https://a/x", ""},
		{"https://a/x", "::not a url"},
		{"https://a/x", "/relative"},
		{"https://secure.ultracart.com:0443/x", "https://secure.ultracart.com"},
		{"https://secure.ultracart.com:80/x", "https://secure.ultracart.com"},
		{"https://user:pw@secure.ultracart.com/x", "https://secure.ultracart.com"},
		{"https://\u017fecure.ultracart.com/x", "https://secure.ultracart.com"},
		{"https://secure.ultracart.com./x", "https://secure.ultracart.com"},
		{"https://[::1]:443/x", "https://[::1]"},
	} {
		f.Add(seed[0], seed[1])
	}
	const secret = "at-fuzz-secret"
	f.Fuzz(func(t *testing.T, rawURL, origin string) {
		req, err := http.NewRequest(http.MethodGet, rawURL, nil)
		if err != nil || req.URL.Host == "" {
			return
		}
		rec := &recorder{}
		tr := &ucoauth.Transport{Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: secret}), Origin: origin, Base: rec}
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		assert.Empty(t, req.Header.Get("Authorization"), "the caller's request was modified")
		if rec.got == nil || rec.got.Header.Get("Authorization") == "" {
			return
		}
		o, err := url.Parse(origin)
		if origin == "" {
			o, err = url.Parse(ucoauth.BaseURL)
		}
		require.NoError(t, err, "a token went out for an unparsable origin")
		assert.True(t, strings.EqualFold(rec.got.URL.Hostname(), o.Hostname()), "token sent to %q for origin %q", rawURL, origin)
		assert.True(t, strings.EqualFold(rec.got.URL.Scheme, o.Scheme), "token sent to %q for origin %q", rawURL, origin)
		assert.Equal(t, portOf(o), portOf(rec.got.URL), "token sent to %q for origin %q", rawURL, origin)
	})
}

// portOf is u's port, the scheme's default when it names none.
func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
}

// TestTransportRedirectsOffOriginGoWithoutToken: the API's origin
// redirects, and the client follows, to the same host on another port, to
// another scheme, to a URL with userinfo, and to another name for the same
// address. None of them gets the token or the API header; a redirect back
// to the origin, spelled in upper case, does.
func TestTransportRedirectsOffOriginGoWithoutToken(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t)
	defer src.Close()
	var mu sync.Mutex
	seen := map[string]string{} // path -> Authorization|API version
	record := func(r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen[r.URL.Path] = r.Header.Get("Authorization") + "|" + r.Header.Get(ultracart.HeaderAPIVersion)
	}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { record(r) }))
	defer other.Close()
	tlsOther := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { record(r) }))
	defer tlsOther.Close()
	var origin *httptest.Server
	origin = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(r)
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusTemporaryRedirect)
		}
	}))
	defer origin.Close()
	ou, err := url.Parse(origin.URL)
	require.NoError(t, err)
	client := &http.Client{Transport: &ucoauth.Transport{Source: src, Origin: origin.URL, Base: tlsOther.Client().Transport}}
	for _, to := range []string{
		other.URL + "/other-port",
		tlsOther.URL + "/other-scheme",
		"http://user:pass@" + ou.Host + "x/bad-port", // not a port: refused by the client, nothing sent
		"http://user:pass@" + other.Listener.Addr().String() + "/userinfo",
		"http://localhost:" + ou.Port() + "/other-name",
		"HTTP://" + strings.ToUpper(ou.Host) + "/back-home",
	} {
		resp, err := client.Get(origin.URL + "/start?to=" + url.QueryEscape(to))
		if err == nil {
			resp.Body.Close()
		}
	}
	want := "Bearer " + f.tok.AccessToken + "|" + ultracart.APIVersion
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, want, seen["/start"], "the origin gets the token")
	for _, p := range []string{"/other-port", "/other-scheme", "/other-name"} {
		assert.Equal(t, "|", seen[p], "%s: the token left its origin", p)
	}
	// The userinfo is the client's own Basic credentials, not our token.
	assert.Equal(t, "Basic dXNlcjpwYXNz|", seen["/userinfo"], "the token left its origin")
	assert.NotContains(t, seen, "/bad-port")
	assert.Equal(t, want, seen["/back-home"], "the origin in upper case is the origin")
}

// TestTransportCallerGivingUpDuringTheSharedRefresh: a request refused with
// 401 waits for the refresh; its context ends first. The caller gets its
// context's error at once, the refresh goes on and serves the next request.
func TestTransportCallerGivingUpDuringTheSharedRefresh(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t)
	defer src.Close()
	client := ucoauth.NewClient(t.Context(), src)
	api := f.srv.BaseURL() + "/order/orders"
	require.True(t, f.srv.RejectToken(f.tok.AccessToken))
	f.srv.SetLatency(500 * time.Millisecond) // the token endpoint, not the API
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api, nil)
	require.NoError(t, err)
	_, err = client.Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the refresh takes 500 ms")
	f.srv.SetLatency(0)
	code, err := get(t, client, api)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, 1, f.srv.Stats().Refreshes(), "the abandoned refresh finished and served the next request")
	stored, err := f.store.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.NotEqual(t, f.tok.AccessToken, stored.AccessToken, "and was saved")
}

// flakyLoads fails Load, temporarily, while fail is set.
type flakyLoads struct {
	ucoauth.TokenStore
	fail atomic.Bool
}

func (f *flakyLoads) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	if f.fail.Load() {
		return nil, blipErr{}
	}
	return f.TokenStore.Load(ctx, key)
}

// TestDeadGrantSurvivesAStoreBlip: the grant is dead, and one of the
// once-a-second looks for a reconnect meets a store outage. Once the store
// is back, callers are told again that the merchant must reconnect (not
// about an outage long over), the looks go on once a second, so a
// reconnect is still served within about a second, and the dead refresh
// token is never sent again.
func TestDeadGrantSurvivesAStoreBlip(t *testing.T) {
	f := newFixture(t, time.Hour)
	fl := &flakyLoads{TokenStore: f.store}
	src := ucoauth.NewTokenSource(f.cfg, fl, "m", ucoauth.WithClock(f.clock.Now))
	defer src.Close()
	_, err := src.Token()
	require.NoError(t, err)
	f.srv.FailNext(1, failInvalidGrant)
	f.clock.Advance(2 * time.Hour)
	_, err = src.Token()
	require.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	tokenRequests := f.srv.Stats().Token

	fl.fail.Store(true)
	f.clock.Advance(2 * time.Second)
	_, err = src.Token()
	require.Error(t, err, "precondition: the look met the outage")
	fl.fail.Store(false)
	for range 20 { // ten simulated seconds, past any backoff after one failure
		f.clock.Advance(500 * time.Millisecond)
		_, err = src.Token()
		assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	}
	assert.Equal(t, ucoauth.StateReauthorizationRequired, src.Status().State)

	fresh := f.srv.Issue("DEMO")
	require.NoError(t, f.store.Save(t.Context(), "m", fresh))
	f.clock.Advance(1100 * time.Millisecond)
	tok, err := src.Token()
	require.NoError(t, err, "the reconnect was not picked up within a second")
	assert.Equal(t, fresh.AccessToken, tok.AccessToken)
	assert.Equal(t, tokenRequests, f.srv.Stats().Token, "the dead refresh token was sent again")
}

// TestTransport401DuringABackgroundRefresh: the stale token is being
// refreshed in the background when the API refuses it. The refused
// requests wait for that refresh rather than start another, and are
// retried with its token.
func TestTransport401DuringABackgroundRefresh(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t, ucoauth.WithEarlyRefresh(5*time.Minute))
	defer src.Close()
	client := ucoauth.NewClient(t.Context(), src)
	api := f.srv.BaseURL() + "/order/orders"
	f.srv.SetLatency(300 * time.Millisecond)
	f.clock.Advance(56 * time.Minute)
	tok, err := src.Token()
	require.NoError(t, err)
	require.Equal(t, f.tok.AccessToken, tok.AccessToken, "precondition: stale, served, refreshing in the background")
	require.True(t, f.srv.RejectToken(f.tok.AccessToken))
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			code, err := get(t, client, api)
			assert.NoError(t, err)
			assert.Equal(t, http.StatusOK, code)
		})
	}
	wg.Wait()
	assert.Equal(t, 1, f.srv.Stats().Refreshes(), "the background refresh served the refused requests")
	assert.Equal(t, ucoauth.StateFresh, src.Status().State)
}

// TestTransport401OnAnOlderTokenIsRetriedWithTheCurrentOne: the request
// went out with a token that was replaced while it was in flight. Its 401
// invalidates nothing and refreshes nothing: it is sent again with the
// current token.
func TestTransport401OnAnOlderTokenIsRetriedWithTheCurrentOne(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t)
	defer src.Close()
	old := "Bearer " + f.tok.AccessToken
	arrived, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var seen []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") == old {
			close(arrived)
			<-release
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer api.Close()
	client := &http.Client{Transport: &ucoauth.Transport{Source: src, Origin: api.URL}}
	done := make(chan int)
	go func() {
		code, err := get(t, client, api.URL+"/x")
		assert.NoError(t, err)
		done <- code
	}()
	<-arrived
	require.True(t, ucoauth.Invalidate(src, f.tok)) // another request's 401 already replaced it
	cur, err := src.Token()
	require.NoError(t, err)
	require.NotEqual(t, f.tok.AccessToken, cur.AccessToken)
	close(release)
	assert.Equal(t, http.StatusOK, <-done)
	assert.Equal(t, 1, f.srv.Stats().Refreshes(), "the late 401 caused no refresh")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{old, "Bearer " + cur.AccessToken}, seen)
}

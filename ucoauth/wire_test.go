package ucoauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/internal/redact"
	"github.com/ucoauth/go-ucoauth/internal/ultracart"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// rawServer answers the OAuth endpoints with a fixed reply and records what
// it was sent, for checking the wire byte by byte.
type rawServer struct {
	*httptest.Server
	mu     sync.Mutex
	forms  []url.Values
	hdrs   []http.Header
	paths  []string
	status int
	header http.Header
	body   string
}

func newRaw(t *testing.T, status int, body string, header ...string) *rawServer {
	rs := &rawServer{status: status, body: body, header: http.Header{}}
	for i := 0; i+1 < len(header); i += 2 {
		rs.header.Set(header[i], header[i+1])
	}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		rs.mu.Lock()
		rs.forms = append(rs.forms, r.PostForm)
		rs.hdrs = append(rs.hdrs, r.Header.Clone())
		rs.paths = append(rs.paths, r.Method+" "+r.URL.Path)
		rs.mu.Unlock()
		for k, v := range rs.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rs.status)
		_, _ = w.Write([]byte(rs.body))
	}))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *rawServer) config(secret string) *oauth2.Config {
	cfg := ucoauth.NewConfig("client-1", secret, "https://app.example/cb")
	cfg.Endpoint = ucoauth.EndpointAt(rs.URL + "/rest/v2")
	return cfg
}

func (rs *rawServer) last() (url.Values, http.Header) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.forms[len(rs.forms)-1], rs.hdrs[len(rs.hdrs)-1]
}

const okBody = `{"access_token":"at-1","token_type":"bearer","refresh_token":"rt-1","expires_in":"3600","scope":"order_read"}`

func TestEndpoint(t *testing.T) {
	assert.Equal(t, "https://secure.ultracart.com/rest/v2/oauth/authorize", ucoauth.Endpoint.AuthURL)
	assert.Equal(t, "https://secure.ultracart.com/rest/v2/oauth/token", ucoauth.Endpoint.TokenURL)
	assert.Equal(t, "https://secure.ultracart.com/rest/v2/oauth/device/authorize", ucoauth.Endpoint.DeviceAuthURL)
	assert.Equal(t, oauth2.AuthStyleInParams, ucoauth.Endpoint.AuthStyle)
	assert.Equal(t, "http://127.0.0.1:9/x/oauth/token", ucoauth.EndpointAt("http://127.0.0.1:9/x/").TokenURL)
	assert.Len(t, ucoauth.Scopes(), 40)
	assert.Contains(t, ucoauth.Scopes(), ucoauth.ScopeOrderRead)
	assert.Contains(t, ucoauth.Scopes(), ucoauth.ScopeUltrabooksWrite)

	cfg := ucoauth.NewConfig("id", "", "https://app.example/cb", ucoauth.ScopeOrderRead, ucoauth.ScopeItemWrite)
	u, err := url.Parse(cfg.AuthCodeURL("st-1"))
	require.NoError(t, err)
	q := u.Query()
	assert.Equal(t, "code", q.Get("response_type"))
	assert.Equal(t, "id", q.Get("client_id"))
	assert.Equal(t, "st-1", q.Get("state"))
	assert.Equal(t, "order_read item_write", q.Get("scope"))
}

func TestCredentialsGoInTheForm(t *testing.T) {
	rs := newRaw(t, 200, okBody)
	ctx := t.Context()

	_, err := ucoauth.Exchange(ctx, rs.config(""), "code-1",
		ucoauth.WithAuthCodeOptions(oauth2.VerifierOption("verifier-1")), ucoauth.WithSimpleKey("simple-key-1"))
	require.NoError(t, err)
	form, hdr := rs.last()
	assert.Equal(t, "client-1", form.Get("client_id"))
	_, hasSecret := form["client_secret"]
	assert.False(t, hasSecret, "an empty secret is left out")
	assert.Equal(t, "authorization_code", form.Get("grant_type"))
	assert.Equal(t, "code-1", form.Get("code"))
	assert.Equal(t, "https://app.example/cb", form.Get("redirect_uri"))
	assert.Equal(t, "verifier-1", form.Get("code_verifier"), "AuthCodeOptions reach the form")
	assert.Empty(t, hdr.Get("Authorization"), "never HTTP Basic")
	assert.Equal(t, "application/json", hdr.Get("Accept"))
	assert.Equal(t, "application/x-www-form-urlencoded", hdr.Get("Content-Type"))
	assert.Equal(t, "simple-key-1", hdr.Get(ultracart.HeaderSimpleKey))

	_, err = ucoauth.Exchange(t.Context(), rs.config("sekrit"), "code-2")
	require.NoError(t, err)
	form, hdr = rs.last()
	assert.Equal(t, "sekrit", form.Get("client_secret"))
	assert.Empty(t, hdr.Get(ultracart.HeaderSimpleKey), "no simple key unless asked")
}

func TestEveryCallHasATimeout(t *testing.T) {
	rs := newRaw(t, 200, okBody)
	var deadlines []bool
	var mu sync.Mutex
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		_, ok := r.Context().Deadline()
		mu.Lock()
		deadlines = append(deadlines, ok)
		mu.Unlock()
		return http.DefaultTransport.RoundTrip(r)
	})}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, client)
	_, err := ucoauth.Exchange(ctx, rs.config(""), "c")
	require.NoError(t, err)
	rs.body = `{"successful": true}`
	require.NoError(t, ucoauth.Revoke(ctx, rs.config(""), "at"))
	assert.Equal(t, []bool{true, true}, deadlines, "a context without a deadline gets DefaultTimeout")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestExpiresInTolerance(t *testing.T) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetLifetime(time.Hour)
	cases := []struct {
		name    string
		format  string
		want    time.Duration
		badExpr bool
	}{
		{"string", `"%d"`, time.Hour, false},
		{"number", `%d`, time.Hour, false},
		{"padded", `" %d "`, time.Hour, false},
		{"decimal", `"%d.0"`, time.Hour, false},
		{"empty", `""`, ucoauth.FallbackLifetime, false},
		{"null", `null`, ucoauth.FallbackLifetime, false},
		{"missing", ``, ucoauth.FallbackLifetime, false},
		{"zero", `"0"`, ucoauth.FallbackLifetime, false},
		{"negative", `"-5"`, ucoauth.FallbackLifetime, false},
		{"garbage", `"abc"`, ucoauth.FallbackLifetime, true},
		{"huge", `"99999999999999"`, ucoauth.MaxLifetime, false},
		{"fraction", `2.5`, 2500 * time.Millisecond, false},
		{"sub-second is raised to MinLifetime", `"0.001"`, ucoauth.MinLifetime, false},
		{"1e-300 is raised to MinLifetime", `"1e-300"`, ucoauth.MinLifetime, false},
		{"0.0001 number is raised to MinLifetime", `0.0001`, ucoauth.MinLifetime, false},
		{"1.5 is raised to MinLifetime", `1.5`, ucoauth.MinLifetime, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv.SetExpiresIn(tc.format)
			cfg := srv.Config()
			code, err := srv.Authorize(t.Context(), cfg, "state", "")
			require.NoError(t, err)
			var logs strings.Builder
			ctx := t.Context()
			logTo := ucoauth.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))
			before := time.Now()
			tok, err := ucoauth.Exchange(ctx, cfg, code, logTo)
			after := time.Now()
			require.NoError(t, err, "a token never comes with an error")
			require.NotNil(t, tok, "the usable rest of the response is kept")
			if tc.badExpr {
				assert.Contains(t, logs.String(), strings.TrimPrefix(ucoauth.ErrBadExpiresIn.Error(), "ucoauth: "), "the anomaly goes to WithLogger's logger")
			} else {
				assert.Empty(t, logs.String())
			}
			assert.NotEmpty(t, tok.AccessToken)
			assert.NotEmpty(t, tok.RefreshToken)
			assert.False(t, tok.Expiry.IsZero(), "no token lives forever")
			assert.False(t, tok.Expiry.Before(before.Add(tc.want)), "expiry %v too early", tok.Expiry)
			assert.False(t, tok.Expiry.After(after.Add(tc.want)), "expiry %v too late", tok.Expiry)
			assert.Equal(t, "Bearer", tok.Type(), `"bearer" means Bearer`)
		})
	}
}

func TestExpiryCountsFromWhenTheRequestWasSent(t *testing.T) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetLifetime(time.Hour)
	cfg := srv.Config()
	code, err := srv.Authorize(t.Context(), cfg, "s", "")
	require.NoError(t, err)
	srv.SetLatency(300 * time.Millisecond)
	sent := time.Now()
	tok, err := ucoauth.Exchange(t.Context(), cfg, code)
	require.NoError(t, err)
	received := time.Now()
	require.Greater(t, received.Sub(sent), 250*time.Millisecond, "precondition: the latency applied")
	assert.False(t, tok.Expiry.After(sent.Add(time.Hour).Add(50*time.Millisecond)),
		"expiry must count from the send, not the receipt: %v after the send", tok.Expiry.Sub(sent))
}

func TestResponseErrors(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		body      string
		header    []string
		contains  []string
		code      string
		temporary bool
		reauth    bool
		client    bool
	}{
		{name: "error in a 200 body", status: 200, body: `{"error":"invalid_grant","error_description":"gone"}`,
			contains: []string{"invalid_grant", "gone"}, code: "invalid_grant", reauth: true},
		{name: "UC-REST-ERROR and ErrorResponse", status: 400,
			body:     `{"error":{"developer_message":"dev says","user_message":"user says","error_code":"E42"},"metadata":{},"success":false}`,
			header:   []string{"UC-REST-ERROR", "header says", "UC-REST-ERROR-MERCHANT-ID", "DEMO"},
			contains: []string{"HTTP 400", "header says", "E42", "DEMO"}},
		{name: "ErrorResponse without header", status: 403,
			body:     `{"error":{"developer_message":"dev says","error_code":"E1"},"success":false}`,
			contains: []string{"dev says", "E1"}},
		{name: "HTML 500", status: 500, body: "<html><body>Internal Error</body></html>", header: []string{"Content-Type", "text/html; charset=utf-8"},
			contains: []string{"HTTP 500", "not JSON", "text/html"}, temporary: true},
		{name: "non-JSON 200", status: 200, body: "access_token=leaky&expires_in=3600", header: []string{"Content-Type", "application/x-www-form-urlencoded"},
			contains: []string{"not JSON"}},
		{name: "empty 200", status: 200, body: "", contains: []string{"not JSON"}},
		{name: "no access token", status: 200, body: `{"token_type":"bearer","expires_in":"3600"}`, contains: []string{"no access_token"}},
		{name: "wrong shape", status: 200, body: `{"access_token":{"nested":true}}`, contains: []string{"unexpected shape"}},
		{name: "401 invalid_client", status: 401, body: `{"error":"invalid_client"}`, code: "invalid_client", client: true},
		{name: "400 unauthorized_client", status: 400, body: `{"error":"unauthorized_client"}`, code: "unauthorized_client", client: true},
		{name: "401 with no code", status: 401, body: ``, client: true},
		{name: "401 invalid_grant", status: 401, body: `{"error":"invalid_grant"}`, code: "invalid_grant", reauth: true},
		{name: "410 app disabled", status: 410, body: `{"error":{"developer_message":"application disabled"}}`, contains: []string{"application disabled"}, reauth: true},
		{name: "408", status: 408, body: ``, temporary: true},
		{name: "429 with Retry-After", status: 429, body: `{}`, header: []string{"Retry-After", "7"}, contains: []string{"retry after 7s"}, temporary: true},
		{name: "503", status: 503, body: `{"error":"temporarily_unavailable"}`, temporary: true},
		{name: "400 invalid_request", status: 400, body: `{"error":"invalid_request"}`, code: "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := newRaw(t, tc.status, tc.body, tc.header...)
			tok, err := ucoauth.Exchange(t.Context(), rs.config("client-secret-xyz"), "code-secret-xyz")
			require.Error(t, err)
			assert.Nil(t, tok)
			var e *ucoauth.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tc.status, e.StatusCode)
			assert.Equal(t, "token", e.Op)
			if tc.code != "" {
				assert.Equal(t, tc.code, e.Code)
			}
			for _, s := range tc.contains {
				assert.Contains(t, err.Error(), s)
			}
			assert.Equal(t, tc.temporary, e.Temporary(), "Temporary()")
			assert.Equal(t, tc.reauth, errors.Is(err, ucoauth.ErrReauthorizationRequired), "ErrReauthorizationRequired")
			assert.Equal(t, tc.client, errors.Is(err, ucoauth.ErrInvalidClient), "ErrInvalidClient")
			for _, secret := range []string{"client-secret-xyz", "code-secret-xyz", "leaky"} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
}

func TestRetryAfterIsParsed(t *testing.T) {
	rs := newRaw(t, 429, `{}`, "Retry-After", "12")
	_, err := ucoauth.Exchange(t.Context(), rs.config(""), "c")
	var e *ucoauth.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, 12*time.Second, e.RetryAfter)
}

func TestOversizedBody(t *testing.T) {
	rs := newRaw(t, 200, `{"access_token":"`+strings.Repeat("a", 2<<20)+`"}`)
	_, err := ucoauth.Exchange(t.Context(), rs.config(""), "c")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exceeds")
	assert.Less(t, len(err.Error()), 500, "the body is not quoted")
}

func TestSecretsNeverInErrors(t *testing.T) {
	// A server that echoes everything it was sent into its error.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		echo := r.PostForm.Encode()
		w.Header().Set("UC-REST-ERROR", "bad request: "+echo)
		w.WriteHeader(400)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": "you sent " + echo,
			"error_uri": "https://x/?" + echo})
	}))
	defer srv.Close()
	cfg := ucoauth.NewConfig("client-1", "the-client-secret", "")
	cfg.Endpoint = ucoauth.EndpointAt(srv.URL)
	secrets := []string{"the-client-secret", "the-auth-code", "the-access-token"}

	_, err := ucoauth.Exchange(t.Context(), cfg, "the-auth-code")
	require.Error(t, err)
	err2 := ucoauth.Revoke(t.Context(), cfg, "the-access-token")
	require.Error(t, err2)
	for _, e := range []error{err, err2} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(verb, e)
			for _, s := range secrets {
				assert.NotContains(t, out, url.QueryEscape(s), "verb %s", verb)
				assert.NotContains(t, out, s, "verb %s", verb)
			}
		}
	}
	assert.Contains(t, err.Error(), redact.Placeholder, "the echo is visible, redacted")
}

func TestNetworkErrorIsTemporary(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	cfg := ucoauth.NewConfig("c", "", "")
	cfg.Endpoint = ucoauth.EndpointAt("http://" + addr)
	_, err = ucoauth.Exchange(t.Context(), cfg, "code")
	var e *ucoauth.Error
	require.ErrorAs(t, err, &e)
	assert.Zero(t, e.StatusCode)
	assert.True(t, e.Temporary(), "connection refused is temporary: %v", err)
}

func TestPlainHTTPRefusedExceptLoopback(t *testing.T) {
	for _, base := range []string{"http://example.com/rest/v2", "http://10.1.2.3/rest/v2", "ftp://127.0.0.1/x"} {
		cfg := ucoauth.NewConfig("c", "s", "")
		cfg.Endpoint = ucoauth.EndpointAt(base)
		_, err := ucoauth.Exchange(t.Context(), cfg, "code")
		assert.Error(t, err, base)
		if strings.HasPrefix(base, "http:") {
			assert.ErrorIs(t, err, ucoauth.ErrInsecureEndpoint, base)
		}
		assert.Error(t, ucoauth.Revoke(t.Context(), cfg, "tok"), base)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "[::1]", "127.9.9.9"} {
		cfg := ucoauth.NewConfig("c", "s", "")
		cfg.Endpoint = ucoauth.EndpointAt("http://" + host + ":1")
		_, err := ucoauth.Exchange(t.Context(), cfg, "code")
		assert.NotErrorIs(t, err, ucoauth.ErrInsecureEndpoint, host)
	}

	client := &http.Client{Transport: &ucoauth.Transport{Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"}), Origin: "http://example.com"}}
	_, err := client.Get("http://example.com/rest/v2/order/orders")
	assert.ErrorIs(t, err, ucoauth.ErrInsecureEndpoint, "a bearer token never crosses the network in clear")
}

func TestRevokeWire(t *testing.T) {
	rs := newRaw(t, 200, `{"successful": true, "message": "ok"}`)
	require.NoError(t, ucoauth.Revoke(t.Context(), rs.config(""), "at-1"))
	form, _ := rs.last()
	assert.Equal(t, url.Values{"client_id": {"client-1"}, "token": {"at-1"}}, form)
	rs.mu.Lock()
	assert.Equal(t, "POST /rest/v2/oauth/revoke", rs.paths[len(rs.paths)-1])
	rs.mu.Unlock()

	rs.body = `{"successful": false, "message": "nope"}`
	err := ucoauth.Revoke(t.Context(), rs.config(""), "at-1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nope")

	rs.body = `{}`
	assert.NoError(t, ucoauth.Revoke(t.Context(), rs.config(""), "at-1"), "RFC 7009: a 2xx without successful revoked the token")
}

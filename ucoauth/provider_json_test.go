package ucoauth_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// jsonProvider speaks an OAuth dialect unlike UltraCart's, the way Square's
// does: JSON request bodies with the client secret inside, expires_at (RFC
// 3339) instead of expires_in, errors as {"errors": [{"code": ...}]},
// revoke with "Authorization: Client <secret>" and a JSON body naming the
// access token or the merchant, and a version header on API calls. It is
// defined here, outside the package, to show that the seam fits such a
// server without any code for it inside ucoauth.
type jsonProvider struct{ revokeURL string }

func (jsonProvider) TokenRequest(cfg *oauth2.Config, params url.Values) (*ucoauth.Request, error) {
	body := map[string]string{"client_id": cfg.ClientID, "client_secret": cfg.ClientSecret}
	for _, k := range []string{"grant_type", "code", "redirect_uri", "refresh_token"} {
		if v := params.Get(k); v != "" {
			body[k] = v
		}
	}
	b, err := json.Marshal(body)
	return &ucoauth.Request{URL: cfg.Endpoint.TokenURL, JSON: b}, err
}

func (jsonProvider) ParseToken(a *ucoauth.Answer) (*oauth2.Token, error) {
	var v struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		ExpiresAt    string `json:"expires_at"`
		RefreshToken string `json:"refresh_token"`
		Errors       []struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(a.Body, &v); err != nil {
		return nil, &ucoauth.Error{StatusCode: a.StatusCode, Err: err}
	}
	if a.StatusCode != http.StatusOK || len(v.Errors) > 0 {
		e := &ucoauth.Error{StatusCode: a.StatusCode}
		if len(v.Errors) > 0 {
			e.ErrorCode, e.Description = v.Errors[0].Code, v.Errors[0].Detail
		}
		if e.ErrorCode == "UNAUTHORIZED" {
			e.Code = "invalid_grant" // the engine's "reauthorize" class
		}
		return nil, e
	}
	exp, err := time.Parse(time.RFC3339, v.ExpiresAt)
	if err != nil {
		return nil, fmt.Errorf("expires_at: %w", err)
	}
	return &oauth2.Token{AccessToken: v.AccessToken, TokenType: v.TokenType, RefreshToken: v.RefreshToken, Expiry: exp}, nil
}

func (p jsonProvider) RevokeRequest(cfg *oauth2.Config, params url.Values) (*ucoauth.Request, error) {
	if params.Get("token_type_hint") == "refresh_token" {
		return nil, &ucoauth.Error{Code: "unsupported_token_type"} // revoking the access token ended the grant
	}
	body := map[string]string{"client_id": cfg.ClientID}
	if m := params.Get("merchant_id"); m != "" {
		body["merchant_id"] = m
	} else {
		body["access_token"] = params.Get("token")
	}
	b, err := json.Marshal(body)
	h := http.Header{"Authorization": {"Client " + cfg.ClientSecret}}
	return &ucoauth.Request{URL: p.revokeURL, Header: h, JSON: b}, err
}

func (jsonProvider) ParseRevoke(a *ucoauth.Answer) error {
	var v struct {
		Success bool `json:"success"`
	}
	if a.StatusCode != http.StatusOK || json.Unmarshal(a.Body, &v) != nil || !v.Success {
		return &ucoauth.Error{StatusCode: a.StatusCode, Err: errors.New("not revoked")}
	}
	return nil
}

func (jsonProvider) SetAPIHeader(h http.Header) {
	if h.Get("Json-Version") == "" {
		h.Set("Json-Version", "2025-01-23")
	}
}

const jsonClientSecret = "jcs-client-secret-1"

// jsonServer is an OAuth server of jsonProvider's dialect on a real
// loopback socket. It remembers what it was sent.
type jsonServer struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   []map[string]string // token and revoke bodies, in order
	headers  []http.Header
	refresh  string // the live refresh token
	access   string
	failNext string // answer the next token request with this error code
	n        int
}

func newJSONServer(t *testing.T) *jsonServer {
	s := &jsonServer{refresh: "jrt-0-refresh", access: "jat-0-access"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/token", s.token)
	mux.HandleFunc("POST /oauth2/revoke", s.revoke)
	mux.HandleFunc("GET /v2/locations", s.api)
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *jsonServer) read(r *http.Request) map[string]string {
	var body map[string]string
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	s.bodies = append(s.bodies, body)
	s.headers = append(s.headers, r.Header.Clone())
	return body
}

func (s *jsonServer) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	body := s.read(r)
	w.Header().Set("Content-Type", "application/json")
	if code := s.failNext; code != "" {
		s.failNext = ""
		w.WriteHeader(http.StatusUnauthorized)
		// The detail echoes the client secret: the engine must scrub it.
		fmt.Fprintf(w, `{"errors":[{"code":%q,"detail":"bad client %s"}]}`, code, body["client_secret"])
		return
	}
	if r.Header.Get("Content-Type") != "application/json" || body["client_secret"] != jsonClientSecret ||
		(body["grant_type"] == "refresh_token" && body["refresh_token"] != s.refresh) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","detail":"refused"}]}`)
		return
	}
	s.n++
	s.access, s.refresh = fmt.Sprintf("jat-%d-access", s.n), fmt.Sprintf("jrt-%d-refresh", s.n)
	exp := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)
	fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_at":%q,"merchant_id":"MLX1","refresh_token":%q}`, s.access, exp, s.refresh)
}

func (s *jsonServer) revoke(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	body := s.read(r)
	if r.Header.Get("Authorization") != "Client "+jsonClientSecret || (body["access_token"] == "" && body["merchant_id"] == "") {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	fmt.Fprint(w, `{"success":true}`)
}

func (s *jsonServer) api(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+s.access || r.Header.Get("Json-Version") == "" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	fmt.Fprint(w, `{"locations":[]}`)
}

func (s *jsonServer) config() *oauth2.Config {
	return &oauth2.Config{ClientID: "jid-1", ClientSecret: jsonClientSecret, RedirectURL: "https://app.example/cb",
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/oauth2/authorize", TokenURL: s.URL + "/oauth2/token"}}
}

func (s *jsonServer) last() (map[string]string, http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodies[len(s.bodies)-1], s.headers[len(s.headers)-1]
}

// A provider defined outside the package, with JSON bodies and expires_at,
// works through Exchange, NewTokenSource (a refresh), the Transport's API
// headers and Revoke, over a real socket.
func TestProviderSeamFitsAJSONServer(t *testing.T) {
	srv := newJSONServer(t)
	cfg := srv.config()
	p := ucoauth.WithProvider(jsonProvider{revokeURL: srv.URL + "/oauth2/revoke"})
	ctx := t.Context()

	tok, err := ucoauth.Exchange(ctx, cfg, "jcode-1", p)
	require.NoError(t, err)
	assert.Equal(t, "jat-1-access", tok.AccessToken)
	assert.WithinDuration(t, time.Now().Add(ucoauth.MaxLifetime), tok.Expiry, time.Minute,
		"a 30-day expires_at is bounded like any lifetime")
	body, hdr := srv.last()
	assert.Equal(t, "application/json", hdr.Get("Content-Type"))
	assert.Equal(t, map[string]string{"client_id": "jid-1", "client_secret": jsonClientSecret, "grant_type": "authorization_code",
		"code": "jcode-1", "redirect_uri": "https://app.example/cb"}, body)
	assert.Empty(t, hdr.Get("X-UltraCart-Api-Version"), "no UltraCart header on another server")

	// A refresh through a TokenSource: the stored token has expired.
	store := tokenstore.NewMemory()
	tok.Expiry = time.Now().Add(-time.Minute)
	require.NoError(t, store.Save(ctx, "m", tok))
	src := ucoauth.NewTokenSource(cfg, store, "m", p)
	defer src.Close()
	fresh, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, "jat-2-access", fresh.AccessToken)
	body, _ = srv.last()
	assert.Equal(t, "refresh_token", body["grant_type"])
	assert.Equal(t, "jrt-1-refresh", body["refresh_token"])
	saved, err := store.Load(ctx, "m")
	require.NoError(t, err)
	assert.Equal(t, "jrt-2-refresh", saved.RefreshToken, "the rotated refresh token is saved")

	// The Transport adds the provider's API header, not UltraCart's.
	resp, err := ucoauth.NewClient(ctx, src).Get(srv.URL + "/v2/locations")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// Revoke: Authorization: Client <secret>, a JSON body with the token.
	require.NoError(t, src.Revoke(ctx))
	body, hdr = srv.last()
	assert.Equal(t, "Client "+jsonClientSecret, hdr.Get("Authorization"))
	assert.Equal(t, map[string]string{"client_id": "jid-1", "access_token": "jat-2-access"}, body)
	_, err = store.Load(ctx, "m")
	assert.ErrorIs(t, err, ucoauth.ErrRevoked)

	// Revoke as a one-off call.
	require.NoError(t, ucoauth.Revoke(ctx, cfg, "jat-9-access", p))
	body, _ = srv.last()
	assert.Equal(t, "jat-9-access", body["access_token"])
}

// A provider's error reaches the engine's classes through *Error, and the
// engine scrubs what the provider took from the answer: here a detail that
// echoes the client secret.
func TestProviderErrorsAreClassedAndScrubbed(t *testing.T) {
	srv := newJSONServer(t)
	cfg := srv.config()
	p := ucoauth.WithProvider(jsonProvider{revokeURL: srv.URL + "/oauth2/revoke"})
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(t.Context(), "m", &oauth2.Token{AccessToken: "jat-0-access", RefreshToken: "jrt-0-refresh",
		Expiry: time.Now().Add(-time.Minute)}))

	srv.failNext = "UNAUTHORIZED"
	src := ucoauth.NewTokenSource(cfg, store, "m", p)
	defer src.Close()
	_, err := src.Token()
	require.Error(t, err)
	assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	var e *ucoauth.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "token", e.Op, "the engine names the call")
	out := printed(err)
	assert.NotContains(t, out, jsonClientSecret)
	assert.Contains(t, out, "[REDACTED]", "the echo shows, scrubbed")
	assert.Equal(t, ucoauth.StateReauthorizationRequired, src.Status().State)
}

// A provider's unreadable answer is an *Error of the engine, and a token
// with no usable expiry gets FallbackLifetime.
func TestProviderAnswerBoundsAndParseErrors(t *testing.T) {
	answer := `{"access_token":"jat-x-access","token_type":"bearer","expires_at":"2000-01-01T00:00:00Z"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, answer)
	}))
	defer srv.Close()
	cfg := &oauth2.Config{ClientID: "jid-1", ClientSecret: jsonClientSecret, Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/oauth2/token"}}
	p := ucoauth.WithProvider(jsonProvider{})

	tok, err := ucoauth.Exchange(t.Context(), cfg, "jcode-1", p)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(ucoauth.FallbackLifetime), tok.Expiry, time.Minute,
		"an expires_at in the past gives the fallback lifetime, not a token that is always expired")

	answer = `{"access_token":"jat-x-access","expires_at":"tomorrow"}`
	_, err = ucoauth.Exchange(t.Context(), cfg, "jcode-1", p)
	var e *ucoauth.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusOK, e.StatusCode)
	assert.True(t, strings.Contains(err.Error(), "expires_at"), "%v", err)
	assert.NotContains(t, printed(err), "jat-x-access", "a token of the answer never prints")
}

// expiresInProvider reads a relative lifetime into ExpiresIn and leaves
// Expiry zero, and wraps its errors in its own text.
type expiresInProvider struct{ jsonProvider }

func (expiresInProvider) ParseToken(a *ucoauth.Answer) (*oauth2.Token, error) {
	var v struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(a.Body, &v); err != nil || a.StatusCode != http.StatusOK {
		// A provider that quotes the answer in its own wrapping text: the
		// engine must scrub that text too, not only the *Error inside.
		return nil, fmt.Errorf("refused: %s: %w", a.Body, &ucoauth.Error{StatusCode: a.StatusCode})
	}
	return &oauth2.Token{AccessToken: v.AccessToken, ExpiresIn: v.ExpiresIn}, nil
}

// A relative lifetime counts from when the request was sent, and a
// provider's own error text is scrubbed even when it wraps an *Error.
func TestProviderRelativeLifetimeAndWrappedErrors(t *testing.T) {
	status, answer := 200, `{"access_token":"jat-rel-access","expires_in":600}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		fmt.Fprint(w, answer)
	}))
	defer srv.Close()
	cfg := &oauth2.Config{ClientID: "jid-1", ClientSecret: jsonClientSecret, Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/oauth2/token"}}
	p := ucoauth.WithProvider(expiresInProvider{})

	tok, err := ucoauth.Exchange(t.Context(), cfg, "jcode-1", p)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(10*time.Minute), tok.Expiry, time.Minute)

	status, answer = 400, `{"access_token":"jat-echo-access","detail":"client `+jsonClientSecret+`"}`
	_, err = ucoauth.Exchange(t.Context(), cfg, "jcode-1", p)
	require.Error(t, err)
	out := printed(err)
	assert.NotContains(t, out, jsonClientSecret)
	assert.NotContains(t, out, "jat-echo-access")
	var e *ucoauth.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "token", e.Op)
}

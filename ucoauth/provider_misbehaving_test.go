package ucoauth_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// funcProvider is a Provider made of funcs, so that each test can make one
// part of it misbehave. A nil func behaves like UltraCart's.
type funcProvider struct {
	tokenRequest  func(*oauth2.Config, url.Values) (*ucoauth.Request, error)
	parseToken    func(*ucoauth.Answer) (*oauth2.Token, error)
	revokeRequest func(*oauth2.Config, url.Values) (*ucoauth.Request, error)
	parseRevoke   func(*ucoauth.Answer) error
}

func (p funcProvider) TokenRequest(cfg *oauth2.Config, v url.Values) (*ucoauth.Request, error) {
	if p.tokenRequest != nil {
		return p.tokenRequest(cfg, v)
	}
	return ucoauth.UltraCart().TokenRequest(cfg, v)
}

func (p funcProvider) ParseToken(a *ucoauth.Answer) (*oauth2.Token, error) {
	if p.parseToken != nil {
		return p.parseToken(a)
	}
	return ucoauth.UltraCart().ParseToken(a)
}

func (p funcProvider) RevokeRequest(cfg *oauth2.Config, v url.Values) (*ucoauth.Request, error) {
	if p.revokeRequest != nil {
		return p.revokeRequest(cfg, v)
	}
	return ucoauth.UltraCart().RevokeRequest(cfg, v)
}

func (p funcProvider) ParseRevoke(a *ucoauth.Answer) error {
	if p.parseRevoke != nil {
		return p.parseRevoke(a)
	}
	return ucoauth.UltraCart().ParseRevoke(a)
}

func (funcProvider) SetAPIHeader(http.Header) {}

// okServer answers every token request with a token and every revoke with
// success.
func okServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/revoke") {
			fmt.Fprint(w, `{"successful":true}`)
			return
		}
		fmt.Fprint(w, `{"access_token":"misb-access-1","token_type":"bearer","expires_in":"3600","refresh_token":"misb-refresh-1"}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func misbehavingConfig(srv *httptest.Server) *oauth2.Config {
	return &oauth2.Config{ClientID: "misb-id", ClientSecret: "misb-client-secret",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/oauth/token"}}
}

// A provider that returns no request and no error, or an error that is a
// nil *Error, is a broken provider: every call fails with an error that
// names the call, and none panics.
func TestProviderReturningNothingIsAnErrorNotAPanic(t *testing.T) {
	srv := okServer(t)
	cfg := misbehavingConfig(srv)
	var nilErr *ucoauth.Error
	cases := map[string]funcProvider{
		"nil token request": {tokenRequest: func(*oauth2.Config, url.Values) (*ucoauth.Request, error) { return nil, nil }},
		"nil *Error from token request": {tokenRequest: func(*oauth2.Config, url.Values) (*ucoauth.Request, error) {
			return nil, nilErr
		}},
		"nil *Error from ParseToken": {parseToken: func(*ucoauth.Answer) (*oauth2.Token, error) { return nil, nilErr }},
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			var tok *oauth2.Token
			var err error
			require.NotPanics(t, func() {
				tok, err = ucoauth.Exchange(t.Context(), cfg, "misb-code-1", ucoauth.WithProvider(p))
			})
			require.Error(t, err)
			assert.Nil(t, tok)
			assert.Contains(t, err.Error(), "ucoauth: token")
			assert.NotContains(t, err.Error(), "misb-code-1")
		})
	}
	revokeCases := map[string]funcProvider{
		"nil revoke request": {revokeRequest: func(*oauth2.Config, url.Values) (*ucoauth.Request, error) { return nil, nil }},
		"nil *Error from ParseRevoke": {parseRevoke: func(*ucoauth.Answer) error {
			return nilErr
		}},
	}
	for name, p := range revokeCases {
		t.Run(name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() {
				err = ucoauth.Revoke(t.Context(), cfg, "misb-access-9", ucoauth.WithProvider(p),
					ucoauth.WithRevokeURL(srv.URL+"/oauth/revoke"))
			})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "ucoauth: revoke")
			assert.NotContains(t, err.Error(), "misb-access-9")
		})
	}
}

// Every header a provider puts on a request can carry a credential (an API
// key, a signature), and Request.Header promises that its values are
// scrubbed: a server echoing one in its error must not put it in the
// error's text.
func TestProviderHeaderValuesAreScrubbed(t *testing.T) {
	const apiKey = "misb-api-key-7f3c"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"invalid_request","error_description":"key %s (%s) is not allowed"}`,
			r.Header.Get("X-Api-Key"), url.QueryEscape(r.Header.Get("X-Api-Key")+"/"))
	}))
	defer srv.Close()
	cfg := misbehavingConfig(srv)
	p := funcProvider{tokenRequest: func(cfg *oauth2.Config, v url.Values) (*ucoauth.Request, error) {
		return &ucoauth.Request{URL: cfg.Endpoint.TokenURL, Form: v, Header: http.Header{"X-Api-Key": {apiKey}}}, nil
	}}
	_, err := ucoauth.Exchange(t.Context(), cfg, "misb-code-2", ucoauth.WithProvider(p))
	require.Error(t, err)
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		assert.NotContains(t, s, apiKey)
		assert.Contains(t, s, "[REDACTED]")
	}
	var e *ucoauth.Error
	require.ErrorAs(t, err, &e)
	assert.NotContains(t, e.Description, apiKey)
}

// A provider's JSON request carries its secrets where a form would: a
// client_assertion it signed, a code_verifier, a token. The engine scrubs
// them from errors as it does a form's, even when the engine never saw
// them (the provider made them).
func TestProviderJSONRequestSecretsAreScrubbed(t *testing.T) {
	const assertion = "misb-signed-assertion-e1d2"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"invalid_request","error_description":%q}`, "bad request "+string(b))
	}))
	defer srv.Close()
	cfg := misbehavingConfig(srv)
	p := funcProvider{tokenRequest: func(cfg *oauth2.Config, v url.Values) (*ucoauth.Request, error) {
		body := fmt.Sprintf(`{"grant_type":"authorization_code","code":%q,"client_assertion":%q}`, v.Get("code"), assertion)
		return &ucoauth.Request{URL: cfg.Endpoint.TokenURL, JSON: []byte(body)}, nil
	}}
	_, err := ucoauth.Exchange(t.Context(), cfg, "misb-code-3", ucoauth.WithProvider(p))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "client_assertion", "the echo reached the error")
	assert.NotContains(t, err.Error(), assertion)
	assert.NotContains(t, err.Error(), "misb-code-3")
}

// A provider's form may carry secrets the engine did not give it: a
// client_secret it derived, an RFC 7523 assertion, a password. Each is
// scrubbed from the call's errors.
func TestProviderFormSecretsAreScrubbed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"invalid_request","error_description":%q}`, "bad form "+r.PostForm.Encode())
	}))
	defer srv.Close()
	cfg := misbehavingConfig(srv)
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	secrets := map[string]string{"client_secret": "misb-derived-secret-5", "assertion": "misb-jwt-assertion-6", "password": "misb-password-7"}
	p := funcProvider{tokenRequest: func(cfg *oauth2.Config, v url.Values) (*ucoauth.Request, error) {
		form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}}
		for k, s := range secrets {
			form.Set(k, s)
		}
		return &ucoauth.Request{URL: cfg.Endpoint.TokenURL, Form: form}, nil
	}}
	_, err := ucoauth.Exchange(t.Context(), cfg, "misb-code-4", ucoauth.WithProvider(p))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "grant-type", "the echo reached the error")
	for k, s := range secrets {
		assert.NotContains(t, err.Error(), s, k)
	}
}

// A provider's token and API headers go only to the API's origin: not to
// another host, and not to where the API's redirect points.
func TestProviderHeadersStayOnTheAPIOrigin(t *testing.T) {
	srv := newJSONServer(t)
	cfg := srv.config()
	seen := make(chan http.Header, 2)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
	}))
	defer other.Close()
	p := ucoauth.WithProvider(jsonProvider{revokeURL: srv.URL + "/oauth2/revoke"})
	store := tokenstore.NewMemory()
	tok, err := ucoauth.Exchange(t.Context(), cfg, "jcode-origin", p)
	require.NoError(t, err)
	require.NoError(t, store.Save(t.Context(), "m", tok))
	src := ucoauth.NewTokenSource(cfg, store, "m", p)
	defer src.Close()
	client := ucoauth.NewClient(t.Context(), src)

	resp, err := client.Get(other.URL + "/v2/locations")
	require.NoError(t, err)
	resp.Body.Close()
	h := <-seen
	assert.Empty(t, h.Get("Authorization"), "no token to another origin")
	assert.Empty(t, h.Get("Json-Version"), "no API header to another origin")

	// The API redirects to the other host: the client follows, without the token.
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/stolen", http.StatusTemporaryRedirect)
	}))
	defer redirecting.Close()
	t2 := &ucoauth.Transport{Source: src, Origin: redirecting.URL}
	resp, err = (&http.Client{Transport: t2}).Get(redirecting.URL + "/v2/locations")
	require.NoError(t, err)
	resp.Body.Close()
	h = <-seen
	assert.Empty(t, h.Get("Authorization"), "no token past the redirect")
	assert.Empty(t, h.Get("Json-Version"), "no API header past the redirect")
}

// A provider's Authorization with an empty credential ("Client " for a
// public client with no secret) holds no secret: its scheme word is not
// blotted out of every message.
func TestProviderEmptyCredentialLeavesMessagesReadable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client","error_description":"Client secret missing"}`)
	}))
	defer srv.Close()
	cfg := misbehavingConfig(srv)
	cfg.ClientSecret = ""
	p := funcProvider{revokeRequest: func(cfg *oauth2.Config, v url.Values) (*ucoauth.Request, error) {
		return &ucoauth.Request{URL: cfg.Endpoint.TokenURL, JSON: []byte(`{}`),
			Header: http.Header{"Authorization": {"Client " + cfg.ClientSecret}}}, nil
	}}
	err := ucoauth.Revoke(t.Context(), cfg, "misb-access-10", ucoauth.WithProvider(p))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Client secret missing")
}

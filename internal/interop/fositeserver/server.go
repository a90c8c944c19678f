// Package fositeserver is an OAuth 2 authorization server and protected API
// built on github.com/ory/fosite, for interoperability tests: it proves
// go-ucoauth against a server nobody on this project wrote.
//
// It serves, on a real loopback socket:
//
//   - /oauth/authorize: auto-approves the fixed user [Subject] and redirects
//     with a code;
//   - /oauth/token: fosite's authorization_code and refresh_token grants, with
//     refresh-token rotation and reuse detection (reusing a rotated refresh
//     token revokes the whole token family);
//   - /oauth/revoke: fosite's RFC 7009 revocation (an empty 200 on success);
//   - /api/whoami: a protected resource that introspects the bearer token
//     with fosite and answers 401 for unknown, expired or revoked tokens.
//
// Two clients are registered: [PostClientID] authenticates with
// client_secret_post (UltraCart's style) and [BasicClientID] with
// client_secret_basic. fosite enforces the method.
package fositeserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	foauth2 "github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/storage"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// Registered clients and the fixed user every authorization approves.
const (
	PostClientID      = "ucoauth-post"
	PostClientSecret  = "post-secret-5f2c9a7e"
	BasicClientID     = "ucoauth-basic"
	BasicClientSecret = "basic-secret-81d3b06c"
	RedirectURL       = "http://127.0.0.1/callback"
	Subject           = "merchant-42"
)

// Scopes every registered client may request.
var Scopes = []string{ucoauth.ScopeOrderRead, ucoauth.ScopeItemRead}

// Paths the server answers on.
const (
	AuthorizePath = "/oauth/authorize"
	TokenPath     = "/oauth/token"
	RevokePath    = "/oauth/revoke"
	APIPath       = "/api/whoami"
)

// DefaultAccessTokenLifespan is short, so that a test sees several token
// generations in a few seconds.
const DefaultAccessTokenLifespan = 3 * time.Second

// Stats counts what reached the server.
type Stats struct {
	// Exchanges and Refreshes count successful authorization_code and
	// refresh_token grants. Every successful refresh starts a new token
	// generation.
	Exchanges, Refreshes int
	// TokenErrors counts failed token requests by RFC 6749 error code, such
	// as "invalid_grant" and "invalid_client".
	TokenErrors map[string]int
	// ReuseDetected counts refresh requests that presented a refresh token
	// already rotated away: fosite then revoked the whole token family.
	ReuseDetected int
	// Revocations and RevokeErrors count requests to the revoke endpoint.
	Revocations, RevokeErrors int
	// APIOK counts API calls with an active token; APIRejected those that
	// were answered 401. Of those, APIExpired carried an expired token,
	// APIRevoked one this server issued and then revoked (at a rotation, a
	// reuse detection or a revocation), and APIUnknown one it never issued.
	APIOK, APIRejected, APIExpired, APIRevoked, APIUnknown int
	// MinExpiresIn is the shortest expires_in issued, in seconds.
	MinExpiresIn int64
	// LastIssued is the ucoauth.Fingerprint of the newest access token.
	LastIssued string
}

// InvalidGrant returns TokenErrors["invalid_grant"].
func (s Stats) InvalidGrant() int { return s.TokenErrors["invalid_grant"] }

// InvalidClient returns TokenErrors["invalid_client"].
func (s Stats) InvalidClient() int { return s.TokenErrors["invalid_client"] }

// Server is a fosite authorization server and protected API on httptest.
// Create it with New and stop it with Close.
type Server struct {
	// URL is the server's root, as in httptest.Server.
	URL string

	srv      *httptest.Server
	provider fosite.OAuth2Provider
	store    *storage.MemoryStore
	strategy *foauth2.HMACSHAStrategy

	// mu serializes every request that changes fosite's storage (read lock
	// for introspection). fosite's MemoryStore checks a refresh token and
	// rotates it in two separate steps, and one of its revocations writes a
	// map under the wrong mutex; a real deployment makes the pair atomic with
	// a database transaction. Serializing makes this server as strict as
	// that: two refreshes with one refresh token can never both succeed.
	mu sync.RWMutex

	statsMu sync.Mutex
	stats   Stats
	issued  map[string]bool // signatures of every access token issued
}

// Options configure a Server. The zero value is fosite's default behaviour
// with [DefaultAccessTokenLifespan].
type Options struct {
	// AccessTokenLifespan is how long access tokens live; 0 means
	// [DefaultAccessTokenLifespan].
	AccessTokenLifespan time.Duration
	// KeepAccessTokensOnRotation keeps the previous access token valid until
	// it expires when its refresh token is rotated. By default fosite's
	// MemoryStore revokes it at once, so that every holder of the old access
	// token gets 401s from the moment anyone refreshes.
	KeepAccessTokensOnRotation bool
	// RevokePath is where fosite's revocation endpoint is served instead of
	// [RevokePath], to test a client's setting for the revoke URL.
	RevokePath string
}

// graceful is fosite's MemoryStore with a rotation that revokes only the
// refresh token: the rotation policy fosite leaves to its storage.
type graceful struct{ *storage.MemoryStore }

func (g graceful) RotateRefreshToken(ctx context.Context, requestID, _ string) error {
	return g.RevokeRefreshToken(ctx, requestID)
}

// New starts a server.
func New(o Options) *Server {
	lifespan := o.AccessTokenLifespan
	if lifespan <= 0 {
		lifespan = DefaultAccessTokenLifespan
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	cfg := &fosite.Config{
		AccessTokenLifespan:   lifespan,
		RefreshTokenLifespan:  time.Hour,
		AuthorizeCodeLifespan: time.Minute,
		GlobalSecret:          secret,
		// Issue a refresh token with every code exchange, as UltraCart does,
		// not only for an "offline" scope.
		RefreshTokenScopes: []string{},
		// The API accepts access tokens only.
		DisableRefreshTokenValidation: true,
		ClientSecretsHasher:           secretHasher{},
	}
	store := storage.NewMemoryStore()
	for _, c := range []struct{ id, secret, method string }{
		{PostClientID, PostClientSecret, "client_secret_post"},
		{BasicClientID, BasicClientSecret, "client_secret_basic"},
	} {
		store.Clients[c.id] = &fosite.DefaultOpenIDConnectClient{
			DefaultClient: &fosite.DefaultClient{
				ID:            c.id,
				Secret:        hashSecret(c.secret),
				RedirectURIs:  []string{RedirectURL},
				GrantTypes:    []string{"authorization_code", "refresh_token"},
				ResponseTypes: []string{"code"},
				Scopes:        Scopes,
			},
			TokenEndpointAuthMethod: c.method,
		}
	}
	strategy := compose.NewOAuth2HMACStrategy(cfg)
	var st any = store
	if o.KeepAccessTokensOnRotation {
		st = graceful{store}
	}
	provider := compose.Compose(cfg, st, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
	)
	s := &Server{provider: provider, store: store, strategy: strategy, issued: map[string]bool{}}
	s.stats.TokenErrors = map[string]int{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+AuthorizePath, s.authorize)
	mux.HandleFunc("POST "+TokenPath, s.token)
	revokePath := RevokePath
	if o.RevokePath != "" {
		revokePath = o.RevokePath
	}
	mux.HandleFunc("POST "+revokePath, s.revoke)
	mux.HandleFunc(APIPath, s.api)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// secretHasher is fosite's client-secret Hasher for this server: SHA-256,
// compared in constant time. fosite's default, bcrypt, costs milliseconds per
// token request, and the fleet tests make thousands of them.
type secretHasher struct{}

func (secretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	h := sha256.Sum256(data)
	return h[:], nil
}

func (secretHasher) Compare(_ context.Context, hash, data []byte) error {
	h := sha256.Sum256(data)
	if subtle.ConstantTimeCompare(hash, h[:]) != 1 {
		return errors.New("fositeserver: client secret does not match")
	}
	return nil
}

func hashSecret(secret string) []byte {
	h, _ := secretHasher{}.Hash(context.Background(), []byte(secret))
	return h
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// APIURL is the protected resource's URL.
func (s *Server) APIURL() string { return s.URL + APIPath }

// PostConfig returns an oauth2.Config for the client_secret_post client, with
// endpoints on this server (credentials in the form, as for UltraCart).
func (s *Server) PostConfig() *oauth2.Config { return PostConfigAt(s.URL) }

// BasicConfig returns an oauth2.Config for the client_secret_basic client,
// with Endpoint.AuthStyle set to oauth2.AuthStyleInHeader.
func (s *Server) BasicConfig() *oauth2.Config { return BasicConfigAt(s.URL) }

// PostConfigAt is PostConfig for a server at baseURL, for a process that
// has only the URL.
func PostConfigAt(baseURL string) *oauth2.Config {
	cfg := ucoauth.NewConfig(PostClientID, PostClientSecret, RedirectURL, ucoauth.ScopeOrderRead)
	cfg.Endpoint = ucoauth.EndpointAt(baseURL)
	return cfg
}

// BasicConfigAt is BasicConfig for a server at baseURL.
func BasicConfigAt(baseURL string) *oauth2.Config {
	cfg := ucoauth.NewConfig(BasicClientID, BasicClientSecret, RedirectURL, ucoauth.ScopeOrderRead)
	cfg.Endpoint = ucoauth.EndpointAt(baseURL)
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	return cfg
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := s.stats
	st.TokenErrors = make(map[string]int, len(s.stats.TokenErrors))
	for k, v := range s.stats.TokenErrors {
		st.TokenErrors[k] = v
	}
	return st
}

func (s *Server) count(f func(*Stats)) {
	s.statsMu.Lock()
	f(&s.stats)
	s.statsMu.Unlock()
}

// Authorize runs the browser's part of the code flow for cfg: it opens
// cfg.AuthCodeURL(state), which the server approves for [Subject] at once,
// and returns the code from the redirect.
func (s *Server) Authorize(ctx context.Context, cfg *oauth2.Config, state string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.AuthCodeURL(state), nil)
	if err != nil {
		return "", err
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return "", fmt.Errorf("fositeserver: authorize answered %d without a redirect", resp.StatusCode)
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("fositeserver: authorize refused: %s: %s", e, q.Get("error_description"))
	}
	if got := q.Get("state"); got != state {
		return "", fmt.Errorf("fositeserver: authorize returned state %q, want %q", got, state)
	}
	return q.Get("code"), nil
}

// RevokeAccessToken invalidates one access token before it expires, leaving
// its refresh token usable: what a server does when it supersedes a token
// early. The next API call with it gets a 401.
func (s *Server) RevokeAccessToken(ctx context.Context, accessToken string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sig := s.strategy.AccessTokenSignature(ctx, accessToken)
	if _, err := s.store.GetAccessTokenSession(ctx, sig, nil); err != nil {
		return fmt.Errorf("fositeserver: unknown access token: %w", err)
	}
	return s.store.DeleteAccessTokenSession(ctx, sig)
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx := r.Context()
	ar, err := s.provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		s.provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	for _, scope := range ar.GetRequestedScopes() {
		ar.GrantScope(scope)
	}
	resp, err := s.provider.NewAuthorizeResponse(ctx, ar, &fosite.DefaultSession{Subject: Subject, Username: Subject})
	if err != nil {
		s.provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	s.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx := r.Context()
	ar, err := s.provider.NewAccessRequest(ctx, r, new(fosite.DefaultSession))
	if err != nil {
		s.tokenError(ctx, w, ar, err)
		return
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		s.tokenError(ctx, w, ar, err)
		return
	}
	expiresIn, _ := resp.GetExtra("expires_in").(int64)
	sig := s.strategy.AccessTokenSignature(ctx, resp.GetAccessToken())
	s.count(func(st *Stats) {
		s.issued[sig] = true
		st.LastIssued = ucoauth.Fingerprint(resp.GetAccessToken())
		if ar.GetGrantTypes().ExactOne("refresh_token") {
			st.Refreshes++
		} else {
			st.Exchanges++
		}
		if st.MinExpiresIn == 0 || expiresIn < st.MinExpiresIn {
			st.MinExpiresIn = expiresIn
		}
	})
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
}

func (s *Server) tokenError(ctx context.Context, w http.ResponseWriter, ar fosite.AccessRequester, err error) {
	code := fosite.ErrorToRFC6749Error(err).ErrorField
	s.count(func(st *Stats) {
		st.TokenErrors[code]++
		if errors.Is(err, fosite.ErrInactiveToken) {
			st.ReuseDetected++
		}
	})
	s.provider.WriteAccessError(ctx, w, ar, err)
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx := r.Context()
	err := s.provider.NewRevocationRequest(ctx, r)
	s.count(func(st *Stats) {
		if err != nil {
			st.RevokeErrors++
		} else {
			st.Revocations++
		}
	})
	s.provider.WriteRevocationResponse(ctx, w, err)
}

// Whoami is the API's answer to an authorized call.
type Whoami struct {
	Subject  string `json:"subject"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	// Method and Body echo the request, so that a test can see that a
	// retried request arrived whole.
	Method string `json:"method"`
	Body   string `json:"body"`
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tok := fosite.AccessTokenFromRequest(r)
	s.mu.RLock()
	_, ar, err := s.provider.IntrospectToken(ctx, tok, fosite.AccessToken, new(fosite.DefaultSession))
	s.mu.RUnlock()
	if err != nil {
		expired := errors.Is(err, fosite.ErrTokenExpired)
		sig := s.strategy.AccessTokenSignature(ctx, tok)
		s.count(func(st *Stats) {
			st.APIRejected++
			switch {
			case expired:
				st.APIExpired++
			case s.issued[sig]:
				st.APIRevoked++
			default:
				st.APIUnknown++
			}
		})
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "invalid_token", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	s.count(func(st *Stats) { st.APIOK++ })
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(Whoami{
		Subject:  ar.GetSession().GetSubject(),
		ClientID: ar.GetClient().GetID(),
		Scope:    strings.Join(ar.GetGrantedScopes(), " "),
		Method:   r.Method,
		Body:     string(body),
	})
}

// RefreshDirect posts a refresh_token grant for cfg's client straight to the
// token endpoint, bypassing every client library: the way to replay an old
// refresh token on purpose. Credentials go as cfg.Endpoint.AuthStyle says
// (HTTP Basic for AuthStyleInHeader, the form otherwise). It returns the
// HTTP status and the RFC 6749 error code, if any.
func (s *Server) RefreshDirect(ctx context.Context, cfg *oauth2.Config, refreshToken string) (status int, code string, err error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	basic := cfg.Endpoint.AuthStyle == oauth2.AuthStyleInHeader
	if !basic {
		form.Set("client_id", cfg.ClientID)
		form.Set("client_secret", cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+TokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret))
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error, nil
}

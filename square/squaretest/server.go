package squaretest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/ucoauth/go-ucoauth/square"
	"golang.org/x/oauth2"
)

// Defaults of a new Server.
const (
	DefaultClientID     = "sq0idp-squaretest"
	DefaultClientSecret = "sq0csp-squaretest-secret"
	DefaultRedirectURL  = "http://127.0.0.1/callback"
	DefaultMerchantID   = "MLSQUARETEST1"
	DefaultWebhookKey   = "squaretest-signature-key"
)

// Server is a fake Square OAuth server on a real loopback socket, with
// Square's shapes: JSON request and answer bodies, expires_at in RFC 3339,
// {"errors":[...]} bodies, revoke behind "Authorization: Client <secret>",
// token status, and both refresh-token rules:
//
//   - code flow (the code was obtained without a PKCE challenge): the
//     refresh token is reusable, never expires, and a refresh returns it
//     again; the client secret is required;
//   - PKCE: the refresh token is single use and expires after 90 days; each
//     refresh returns a new one and the old one is refused from then on
//     (counted in Stats.InvalidGrant and Stats.Reused).
//
// Every knob can be turned while it runs, from any goroutine.
type Server struct {
	// URL is the server's root, as in httptest.Server.
	URL string
	// ClientID, ClientSecret and RedirectURL are the registered application.
	ClientID, ClientSecret, RedirectURL string
	// WebhookKey is the webhook subscription's signature key.
	WebhookKey string

	srv *httptest.Server
	mux *http.ServeMux

	mu       sync.Mutex
	lifetime time.Duration
	latency  time.Duration
	now      func() time.Time
	failures []*pending
	codes    map[string]*code
	refresh  map[string]*refreshToken
	access   map[string]*access
	stats    Stats
}

type grant struct {
	merchant string
	scopes   []string
	pkce     bool
}

type code struct {
	g           *grant
	redirectURI string
	challenge   string // S256 challenge; "" for the code flow
	expiry      time.Time
}

type refreshToken struct {
	g      *grant
	expiry time.Time // zero: never (code flow)
	used   bool      // a PKCE token already spent
}

type access struct {
	g      *grant
	expiry time.Time
}

// Stats counts what the server was asked. A snapshot; see [Server.Stats].
type Stats struct {
	// Token counts token requests by grant_type ("authorization_code",
	// "refresh_token", "(other)"), failed ones included.
	Token map[string]int
	// InvalidGrant counts token requests refused for their code or refresh
	// token; Reused those that presented a spent PKCE refresh token.
	InvalidGrant, Reused int
	// Revoke, Status and API count calls to those endpoints.
	Revoke, Status, API int
	// Injected counts answers replaced by [Server.FailNext].
	Injected int
	// RefreshTimes records when each successful refresh was answered, on the
	// server's clock.
	RefreshTimes []time.Time
	// LastVersion is the Square-Version header last seen on any request.
	LastVersion string
}

// Refreshes returns how many refresh_token requests reached the server.
func (s Stats) Refreshes() int { return s.Token[square.GrantRefreshToken] }

// NewServer starts a Server with Square's 30-day access token lifetime.
// Close it when done.
func NewServer() *Server {
	s := newServer()
	s.srv = httptest.NewServer(s.mux)
	s.URL = s.srv.URL
	return s
}

func newServer() *Server {
	s := &Server{
		ClientID: DefaultClientID, ClientSecret: DefaultClientSecret,
		RedirectURL: DefaultRedirectURL, WebhookKey: DefaultWebhookKey,
		lifetime: square.AccessTokenLifetime, now: time.Now,
		codes: map[string]*code{}, refresh: map[string]*refreshToken{}, access: map[string]*access{},
		stats: Stats{Token: map[string]int{}},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth2/authorize", s.authorize)
	mux.HandleFunc("POST /oauth2/token", s.token)
	mux.HandleFunc("POST /oauth2/revoke", s.revoke)
	mux.HandleFunc("POST /oauth2/token/status", s.status)
	mux.HandleFunc("/v2/", s.api)
	s.mux = mux
	return s
}

// NewStandalone returns a Server that answers on your own http.Server
// (see [Server.Handler]) rooted at rootURL, for a fake Square in another
// process. Close does nothing on it.
func NewStandalone(rootURL string) *Server {
	s := newServer()
	s.URL = rootURL
	return s
}

// Handler serves the fake's routes.
func (s *Server) Handler() http.Handler { return s.mux }

// Close shuts the server down.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
}

// Endpoint is Square's endpoint on this server.
func (s *Server) Endpoint() oauth2.Endpoint { return square.EndpointAt(s.URL) }

// Config returns the code-flow application's config (with its secret).
func (s *Server) Config(scopes ...string) *oauth2.Config {
	c := square.NewConfig(s.ClientID, s.ClientSecret, s.RedirectURL, scopes...)
	c.Endpoint = s.Endpoint()
	return c
}

// PKCEConfig returns the public client's config: no secret.
func (s *Server) PKCEConfig(scopes ...string) *oauth2.Config {
	c := s.Config(scopes...)
	c.ClientSecret = ""
	return c
}

// Client returns a square.Client for cfg on this server.
func (s *Server) Client(cfg *oauth2.Config) *square.Client { return square.NewClient(cfg) }

// SetLifetime sets the access tokens' lifetime (30 days by default);
// short_lived requests still get 24 hours when that is shorter.
func (s *Server) SetLifetime(d time.Duration) { s.mu.Lock(); s.lifetime = d; s.mu.Unlock() }

// SetLatency delays every answer by d.
func (s *Server) SetLatency(d time.Duration) { s.mu.Lock(); s.latency = d; s.mu.Unlock() }

// SetClock replaces the server's clock, for expiries.
func (s *Server) SetClock(now func() time.Time) { s.mu.Lock(); s.now = now; s.mu.Unlock() }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Token = make(map[string]int, len(s.stats.Token))
	for k, v := range s.stats.Token {
		st.Token[k] = v
	}
	st.RefreshTimes = append([]time.Time(nil), s.stats.RefreshTimes...)
	return st
}

// Issue connects merchant in the code flow without the browser round trip
// and returns its token, as square.Client.Exchange would. Not counted.
func (s *Server) Issue(merchant string, scopes ...string) *oauth2.Token {
	return s.issue(&grant{merchant: merchant, scopes: scopes})
}

// IssuePKCE is Issue for a public client: its refresh token is single use
// and expires after 90 days.
func (s *Server) IssuePKCE(merchant string, scopes ...string) *oauth2.Token {
	return s.issue(&grant{merchant: merchant, scopes: scopes, pkce: true})
}

func (s *Server) issue(g *grant) *oauth2.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	body, _ := json.Marshal(s.answerLocked(g, "", false))
	a, err := square.DecodeAnswer(body, s.now())
	if err != nil {
		panic("squaretest: own answer unreadable") // the fake's bug, never input
	}
	return a.Token
}

// newSecret returns a random token with Square-like prefix.
func newSecret(prefix string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// ErrorBody is Square's error body with one error.
func ErrorBody(category, code, detail string) string {
	b, _ := json.Marshal(map[string][]square.APIError{"errors": {{Category: category, Code: code, Detail: detail}}})
	return string(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, category, code, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(ErrorBody(category, code, detail)))
}

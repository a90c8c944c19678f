package ucoauthtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// Defaults of a new Server.
const (
	DefaultClientID     = "ucoauthtest-client"
	DefaultClientSecret = "ucoauthtest-secret"
	DefaultLifetime     = time.Hour
)

// A new Server's RedirectURL, and the merchant that authorizes when none is
// named ("DEMO"). Read them from the Server's fields and your tokens.
const (
	defaultRedirectURL = "http://127.0.0.1/callback"
	defaultMerchantID  = "DEMO"
)

// Server is a fake UltraCart authorization and API server on a real loopback
// socket. Its answers have UltraCart's exact shapes: every field a string,
// expires_in included, token_type "bearer", errors with the UC-REST-ERROR
// header and an ErrorResponse body.
//
// Every knob can be turned while it runs, from any goroutine.
type Server struct {
	// URL is the server's root, as in httptest.Server.
	URL string
	// ClientID, ClientSecret and RedirectURL are the registered application.
	// A request may omit the secret, as UltraCart's SDKs do; a wrong one is
	// refused.
	ClientID, ClientSecret, RedirectURL string

	srv *httptest.Server
	mux *http.ServeMux

	mu        sync.Mutex
	lifetime  time.Duration
	rotate    bool
	expiresIn string // raw JSON, %d for the seconds; "" leaves expires_in out
	latency   time.Duration
	failures  []*pendingFailure
	now       func() time.Time
	codes     map[string]*code
	refresh   map[string]*grant
	access    map[string]*access
	devices   map[string]*device
	stats     Stats

	clientAuth   oauth2.AuthStyle // see answers.go
	revokeAnswer RevokeAnswer
}

type grant struct {
	merchant string
	scope    string
	revoked  bool
}

type code struct {
	g           *grant
	redirectURI string
}

type access struct {
	g      *grant
	expiry time.Time
}

type device struct {
	g     *grant
	polls int
}

type pendingFailure struct {
	n int // < 0: until ClearFailures
	f Failure
}

// Stats counts what the server was asked. A snapshot; see [Server.Stats].
type Stats struct {
	// Token counts token requests by grant_type, failed ones included.
	// Beyond 32 distinct grant types, and for one longer than 64 bytes,
	// requests count under "(other)", so that a client cannot make it grow
	// without bound; the grant types the fake serves always count under
	// their names.
	Token map[string]int
	// InvalidGrant counts token requests refused with invalid_grant.
	InvalidGrant int
	// Revoke counts revoke requests, except those for a refresh token
	// (token_type_hint=refresh_token), which RevokeRefresh counts.
	Revoke, RevokeRefresh int
	// API counts calls to the protected API, and APIRejected those refused.
	API, APIRejected int
	// Injected counts answers replaced by [Server.FailNext].
	Injected int
	// RefreshTimes records when each successful refresh_token grant was
	// answered, on the server's clock: the gaps between them show whether a
	// fleet refreshed once per token lifetime or several times.
	RefreshTimes []time.Time
	// LastSimpleKey is the X-UltraCart-Simple-Key header last seen.
	LastSimpleKey string
}

// Refreshes returns how many refresh_token requests reached the server.
func (s Stats) Refreshes() int { return s.Token["refresh_token"] }

// Failure is an answer that FailNext puts in place of the real one.
type Failure struct {
	Status int         // the HTTP status answered
	Body   string      // the body answered, as is
	Header http.Header // headers added to the answer
	// Path limits the failure to one endpoint, such as "/oauth/revoke"
	// (relative to the base URL). Empty means the token endpoint.
	Path string
}

// NewServer starts a Server with a one-hour token lifetime, refresh-token
// rotation on and string expires_in. Close it when done.
func NewServer() *Server {
	s := newServer()
	s.srv = httptest.NewServer(s.Handler())
	s.URL = s.srv.URL
	return s
}

// newServer returns a Server with its routes, not yet listening.
func newServer() *Server {
	s := &Server{
		ClientID:     DefaultClientID,
		ClientSecret: DefaultClientSecret,
		RedirectURL:  defaultRedirectURL,
		lifetime:     DefaultLifetime,
		rotate:       true,
		expiresIn:    `"%d"`,
		now:          time.Now,
		codes:        map[string]*code{},
		refresh:      map[string]*grant{},
		access:       map[string]*access{},
		devices:      map[string]*device{},
		stats:        Stats{Token: map[string]int{}},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rest/v2/oauth/authorize", s.authorize)
	mux.HandleFunc("POST /rest/v2/oauth/token", s.token)
	mux.HandleFunc("POST /rest/v2/oauth/revoke", s.revoke)
	mux.HandleFunc("POST /rest/v2/oauth/device/authorize", s.deviceAuthorize)
	mux.HandleFunc("/rest/v2/", s.api)
	s.mux = mux
	return s
}

// Close shuts the server down. A standalone server (see [NewStandalone]) has
// nothing to close: shut down the http.Server that serves it.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
}

// BaseURL is the equivalent of ucoauth.BaseURL on this server.
func (s *Server) BaseURL() string { return s.URL + "/rest/v2" }

// Endpoint returns the server's OAuth endpoint.
func (s *Server) Endpoint() oauth2.Endpoint { return ucoauth.EndpointAt(s.BaseURL()) }

// Config returns a config for the registered application on this server.
func (s *Server) Config(scopes ...string) *oauth2.Config {
	cfg := ucoauth.NewConfig(s.ClientID, s.ClientSecret, s.RedirectURL, scopes...)
	cfg.Endpoint = s.Endpoint()
	return cfg
}

// SetLifetime sets the lifetime of tokens issued from now on.
func (s *Server) SetLifetime(d time.Duration) { s.mu.Lock(); s.lifetime = d; s.mu.Unlock() }

// SetRotation turns refresh-token rotation on or off. On, a refresh returns
// a new refresh token and the old one dies once used. Off, a refresh returns
// no refresh token and the old one stays valid.
func (s *Server) SetRotation(on bool) { s.mu.Lock(); s.rotate = on; s.mu.Unlock() }

// SetExpiresIn sets how token answers write expires_in: raw is the JSON
// value written, in which %d stands for the lifetime in seconds, and ""
// leaves the field out. The default is UltraCart's string, `"%d"`. Shapes
// UltraCart and its imitators have been seen to send, or that a tolerant
// client must survive: `%d` (a number), `" %d "` (padded), `"%d.0"`
// (decimal), `""` (empty), `null`, `"0"`, `"-5"`, `"abc"`. It panics when
// raw is not JSON: that is a mistake in the test.
func (s *Server) SetExpiresIn(raw string) {
	if raw != "" && !json.Valid([]byte(strings.ReplaceAll(raw, "%d", "1"))) {
		panic(fmt.Sprintf("ucoauthtest: SetExpiresIn(%q): not JSON", raw))
	}
	s.mu.Lock()
	s.expiresIn = raw
	s.mu.Unlock()
}

// SetLatency delays every answer of the OAuth endpoints by d.
func (s *Server) SetLatency(d time.Duration) { s.mu.Lock(); s.latency = d; s.mu.Unlock() }

// SetClock replaces time.Now for issuing and checking tokens.
func (s *Server) SetClock(now func() time.Time) { s.mu.Lock(); s.now = now; s.mu.Unlock() }

// FailNext answers the next n requests to f.Path with f instead of the real
// answer. n < 0 fails every request until ClearFailures; n == 0 fails none.
func (s *Server) FailNext(n int, f Failure) {
	if n == 0 {
		return // queued, it would fail every request: a count of 0 never runs out
	}
	if f.Path == "" {
		f.Path = "/oauth/token"
	}
	s.mu.Lock()
	s.failures = append(s.failures, &pendingFailure{n: n, f: f})
	s.mu.Unlock()
}

// ClearFailures drops every failure FailNext queued.
func (s *Server) ClearFailures() { s.mu.Lock(); s.failures = nil; s.mu.Unlock() }

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

// Issue connects merchant without the browser round trip and returns its
// token, as if the merchant had authorized and the code been exchanged by
// ucoauth.Exchange: it carries a new grant ID (ucoauth.GrantExtra). It is
// not counted in Stats.
func (s *Server) Issue(merchant string, scopes ...string) *oauth2.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &grant{merchant: merchant, scope: strings.Join(scopes, " ")}
	at, rt, exp := s.issueLocked(g, true)
	tok := &oauth2.Token{AccessToken: at, TokenType: "bearer", RefreshToken: rt, Expiry: exp, ExpiresIn: int64(s.lifetime / time.Second)}
	if g.scope != "" {
		tok = tok.WithExtra(map[string]any{"scope": g.scope})
	}
	// A new authorization, as ucoauth.Exchange would stamp it.
	return ucoauth.WithGrantID(tok, ucoauth.NewGrantID())
}

// Authorize plays the merchant's browser: it follows cfg's authorize link
// with state, lets the server approve, and returns the code from the
// redirect. merchant may be empty for "DEMO".
func (s *Server) Authorize(ctx context.Context, cfg *oauth2.Config, state, merchant string) (string, error) {
	u := cfg.AuthCodeURL(state)
	if merchant != "" {
		u += "&merchant_id=" + url.QueryEscape(merchant)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
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
		return "", fmt.Errorf("ucoauthtest: authorize answered %d without a redirect", resp.StatusCode)
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("ucoauthtest: authorize refused: %s", e)
	}
	if q.Get("state") != state {
		return "", errors.New("ucoauthtest: authorize returned the wrong state")
	}
	return q.Get("code"), nil
}

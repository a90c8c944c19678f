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
	"time"

	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/ucoauth"
)

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

// Handler returns the server's routes for serving with your own http.Server:
// the OAuth endpoints and the API under /rest/v2/, GET / answering 200 so that
// scripts can wait for the server to come up, and the device verification
// page that the device flow's verification_uri points to.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", s.mux)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ucoauthtest: a fake UltraCart. OAuth and API under " + s.BaseURL() + "\n"))
	})
	mux.HandleFunc("GET /rest/v2/oauth/device", func(w http.ResponseWriter, _ *http.Request) {
		// The fake approves every device code on the second poll: there is
		// nothing for the merchant to do here.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ucoauthtest: device codes are approved automatically; go back to your device.\n"))
	})
	return mux
}

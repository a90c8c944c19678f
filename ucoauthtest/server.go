package ucoauthtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/internal/ultracart"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// Defaults of a new Server.
const (
	DefaultClientID     = "ucoauthtest-client"
	DefaultClientSecret = "ucoauthtest-secret"
	DefaultRedirectURL  = "http://127.0.0.1/callback"
	DefaultMerchantID   = "DEMO"
	DefaultLifetime     = time.Hour
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

	mu       sync.Mutex
	lifetime time.Duration
	rotate   bool
	format   ExpiresInFormat
	latency  time.Duration
	failures []*pendingFailure
	now      func() time.Time
	codes    map[string]*code
	refresh  map[string]*grant
	access   map[string]*access
	devices  map[string]*device
	stats    Stats

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
		RedirectURL:  DefaultRedirectURL,
		lifetime:     DefaultLifetime,
		rotate:       true,
		format:       ExpiresInString,
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

// SetExpiresIn sets how expires_in is written.
func (s *Server) SetExpiresIn(f ExpiresInFormat) { s.mu.Lock(); s.format = f; s.mu.Unlock() }

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
// redirect. merchant may be empty for DefaultMerchantID.
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

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.ClientID {
		writeUCError(w, http.StatusBadRequest, "Invalid client_id", "invalid_client")
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" {
		redirect = s.RedirectURL
	}
	target, err := url.Parse(redirect)
	if err != nil || target.Scheme == "" {
		writeUCError(w, http.StatusBadRequest, "Invalid redirect_uri", "invalid_request")
		return
	}
	v := target.Query()
	switch {
	case q.Get("response_type") != "code", q.Get("state") == "":
		v.Set("error", "invalid_request")
	default:
		merchant := q.Get("merchant_id")
		if merchant == "" {
			merchant = DefaultMerchantID
		}
		c := newSecret("code")
		s.mu.Lock()
		s.codes[c] = &code{g: &grant{merchant: merchant, scope: q.Get("scope")}, redirectURI: q.Get("redirect_uri")}
		s.mu.Unlock()
		v.Set("code", c)
	}
	if st := q.Get("state"); st != "" {
		v.Set("state", st)
	}
	target.RawQuery = v.Encode()
	http.Redirect(w, r, target.String(), http.StatusTemporaryRedirect)
}

// intercept applies latency and injected failures. It reports whether it
// wrote the answer.
func (s *Server) intercept(w http.ResponseWriter, r *http.Request, path string) bool {
	s.mu.Lock()
	d := s.latency
	s.stats.LastSimpleKey = r.Header.Get(ultracart.HeaderSimpleKey)
	var f *Failure
	for i, p := range s.failures {
		if p.f.Path != path {
			continue
		}
		f = &p.f
		if p.n > 0 {
			p.n--
			if p.n == 0 {
				s.failures = append(s.failures[:i], s.failures[i+1:]...)
			}
		}
		s.stats.Injected++
		break
	}
	s.mu.Unlock()
	if d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return true
		}
	}
	if f == nil {
		return false
	}
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(f.Status)
	_, _ = w.Write([]byte(f.Body))
	return true
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	gt := r.PostForm.Get("grant_type")
	s.mu.Lock()
	s.stats.Token[statKey(s.stats.Token, gt)]++
	s.mu.Unlock()
	if s.intercept(w, r, "/oauth/token") {
		return
	}
	if !s.clientOK(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		g       *grant
		withRT  = true
		invalid = func(desc string) {
			s.stats.InvalidGrant++
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", desc)
		}
	)
	switch gt {
	case "authorization_code":
		c, ok := s.codes[r.PostForm.Get("code")]
		if !ok {
			invalid("The authorization code is invalid or was already used.")
			return
		}
		delete(s.codes, r.PostForm.Get("code"))
		if c.redirectURI != "" && r.PostForm.Get("redirect_uri") != c.redirectURI {
			invalid("redirect_uri does not match the authorize request.")
			return
		}
		g = c.g
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		var ok bool
		if g, ok = s.refresh[rt]; !ok || g.revoked {
			invalid("The refresh token is invalid, expired or was already used.")
			return
		}
		if s.rotate {
			delete(s.refresh, rt)
		} else {
			withRT = false
		}
		s.stats.RefreshTimes = append(s.stats.RefreshTimes, s.now())
	case ultracart.GrantTypeDeviceCode:
		d, ok := s.devices[r.PostForm.Get("device_code")]
		if !ok {
			writeOAuthError(w, http.StatusBadRequest, "expired_token", "The device code is unknown or expired.")
			return
		}
		// Approved after the first poll, so clients exercise the wait.
		if d.polls++; d.polls == 1 {
			writeOAuthError(w, http.StatusBadRequest, "authorization_pending", "The merchant has not approved yet.")
			return
		}
		delete(s.devices, r.PostForm.Get("device_code"))
		g = d.g
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
		return
	}
	at, rt, _ := s.issueLocked(g, withRT)
	body := map[string]json.RawMessage{
		"access_token": jsonString(at),
		"token_type":   jsonString("bearer"),
	}
	if rt != "" {
		body["refresh_token"] = jsonString(rt)
	}
	if g.scope != "" {
		body["scope"] = jsonString(g.scope)
	}
	if e := s.format(s.lifetime); e != nil {
		body["expires_in"] = e
	}
	writeJSON(w, http.StatusOK, body)
}

// statKey is the key gt is counted under in counts: itself, or "(other)"
// once it is too long or counts has too many keys. The grant types the fake
// serves always count under their own names.
func statKey(counts map[string]int, gt string) string {
	switch gt {
	case "authorization_code", "refresh_token", ultracart.GrantTypeDeviceCode:
		return gt
	}
	if _, ok := counts[gt]; ok || (len(gt) <= 64 && len(counts) < 32) {
		return gt
	}
	return "(other)"
}

// issueLocked mints an access token, and a refresh token when withRT.
func (s *Server) issueLocked(g *grant, withRT bool) (at, rt string, expiry time.Time) {
	at = newSecret("at")
	expiry = s.now().Add(s.lifetime)
	s.access[at] = &access{g: g, expiry: expiry}
	if withRT {
		rt = newSecret("rt")
		s.refresh[rt] = g
	}
	return at, rt, expiry
}

func (s *Server) clientOK(w http.ResponseWriter, r *http.Request) bool { return s.clientAuthOK(w, r) }

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeUCError(w, http.StatusBadRequest, "bad form", "invalid_request")
		return
	}
	refresh := r.PostForm.Get("token_type_hint") == "refresh_token"
	s.mu.Lock()
	if refresh {
		s.stats.RevokeRefresh++
	} else {
		s.stats.Revoke++
	}
	s.mu.Unlock()
	if s.intercept(w, r, "/oauth/revoke") || !s.clientOK(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := r.PostForm.Get("token")
	a, ok := s.access[tok]
	switch s.revokeAnswer {
	case RevokeRFC7009:
		// RFC 7009 2.1: a refresh token's grant goes with it; an access
		// token's too, here (the server may).
		if ok {
			a.g.revoked = true
		} else if g, isRT := s.refresh[tok]; isRT {
			g.revoked = true
		}
		w.WriteHeader(http.StatusOK) // RFC 7009 2.2: known or not
		return
	case RevokeAccessOnly:
		if !ok && s.refresh[tok] != nil {
			writeOAuthError(w, http.StatusBadRequest, "unsupported_token_type", "Refresh tokens cannot be revoked.")
			return
		}
		delete(s.access, tok)
		w.WriteHeader(http.StatusOK)
		return
	case RevokeRFC7009Strict:
		if ok {
			delete(s.access, tok)
		} else {
			delete(s.refresh, tok)
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if !ok || a.g.revoked {
		writeUCError(w, http.StatusUnauthorized, "Invalid or revoked access token.", "invalid_token")
		return
	}
	a.g.revoked = true
	writeJSON(w, http.StatusOK, map[string]any{"successful": true, "message": "OAuth application revoked."})
}

func (s *Server) deviceAuthorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeUCError(w, http.StatusBadRequest, "bad form", "invalid_request")
		return
	}
	if s.intercept(w, r, "/oauth/device/authorize") || !s.clientOK(w, r) {
		return
	}
	dc, uc := newSecret("dc"), strings.ToUpper(newSecret("")[:8])
	s.mu.Lock()
	s.devices[dc] = &device{g: &grant{merchant: DefaultMerchantID, scope: r.PostForm.Get("scope")}}
	s.mu.Unlock()
	// RFC 8628 numbers, so that x/oauth2's DeviceAuth can read them.
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":               dc,
		"user_code":                 uc,
		"verification_uri":          s.BaseURL() + "/oauth/device",
		"verification_uri_complete": s.BaseURL() + "/oauth/device?user_code=" + uc,
		"expires_in":                600,
		"interval":                  1,
	})
}

// api is the protected API: any other path under /rest/v2/. It checks the
// API version header and the bearer token, as UltraCart does.
func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.API++
	s.mu.Unlock()
	reject := func(status int, msg, code string) {
		s.mu.Lock()
		s.stats.APIRejected++
		s.mu.Unlock()
		writeUCError(w, status, msg, code)
	}
	if v := r.Header.Get(ultracart.HeaderAPIVersion); v != ultracart.APIVersion {
		reject(http.StatusBadRequest, "Requests will FAIL if a X-UltraCart-Api-Version is not specified.", "missing_api_version")
		return
	}
	auth := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(auth, " ")
	s.mu.Lock()
	a, ok := s.access[tok]
	valid := ok && strings.EqualFold(scheme, "Bearer") && !a.g.revoked && s.now().Before(a.expiry)
	s.mu.Unlock()
	if !valid {
		reject(http.StatusUnauthorized, "Invalid, expired or revoked access token.", "invalid_token")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "merchant_id": a.g.merchant, "path": r.URL.Path})
}

// ExpiresInFormat writes expires_in for a lifetime, as raw JSON; nil leaves
// the field out.
type ExpiresInFormat func(lifetime time.Duration) json.RawMessage

// The expires_in formats UltraCart and its imitators have been seen to send,
// or that a tolerant client must survive.
var (
	ExpiresInString   ExpiresInFormat = func(d time.Duration) json.RawMessage { return jsonString(secs(d)) }
	ExpiresInNumber   ExpiresInFormat = func(d time.Duration) json.RawMessage { return json.RawMessage(secs(d)) }
	ExpiresInPadded   ExpiresInFormat = func(d time.Duration) json.RawMessage { return jsonString(" " + secs(d) + " ") }
	ExpiresInDecimal  ExpiresInFormat = func(d time.Duration) json.RawMessage { return jsonString(secs(d) + ".0") }
	ExpiresInEmpty    ExpiresInFormat = func(time.Duration) json.RawMessage { return jsonString("") }
	ExpiresInNull     ExpiresInFormat = func(time.Duration) json.RawMessage { return json.RawMessage("null") }
	ExpiresInMissing  ExpiresInFormat = func(time.Duration) json.RawMessage { return nil }
	ExpiresInZero     ExpiresInFormat = func(time.Duration) json.RawMessage { return jsonString("0") }
	ExpiresInNegative ExpiresInFormat = func(time.Duration) json.RawMessage { return jsonString("-5") }
	ExpiresInGarbage  ExpiresInFormat = func(time.Duration) json.RawMessage { return jsonString("abc") }
)

func secs(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

func newSecret(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	if prefix == "" {
		return hex.EncodeToString(b)
	}
	return prefix + "-" + hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeOAuthError answers like UltraCart's token endpoint: the RFC 6749 error
// fields of OauthTokenResponse, with the message in UC-REST-ERROR too.
func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set(ultracart.HeaderRESTError, desc)
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// ErrorResponse writes UltraCart's ErrorResponse body, for injected failures
// and your own handlers.
func ErrorResponse(developerMessage, errorCode string) string {
	b, _ := json.Marshal(map[string]any{
		"error": map[string]string{
			"developer_message": developerMessage,
			"user_message":      developerMessage,
			"error_code":        errorCode,
			"more_info":         "",
			"object_id":         "",
		},
		"metadata": map[string]any{},
		"success":  false,
	})
	return string(b)
}

func writeUCError(w http.ResponseWriter, status int, msg, code string) {
	w.Header().Set(ultracart.HeaderRESTError, msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(ErrorResponse(msg, code)))
}

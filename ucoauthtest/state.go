package ucoauthtest

// This file is the server's state: its types, defaults and counters. It
// uses no other file of the package but responses.go.

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

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

// RevokeAnswer is how the revoke endpoint answers.
type RevokeAnswer int

const (
	// RevokeUltraCart answers {"successful": true, "message": ...}, and 401
	// with error_code invalid_token for a token it does not know.
	RevokeUltraCart RevokeAnswer = iota
	// RevokeRFC7009 answers an empty 200 whether or not it knew the token,
	// as RFC 7009 section 2.2 prescribes, and revokes the token's whole
	// grant, whether it was sent an access or a refresh token.
	RevokeRFC7009
	// RevokeRFC7009Strict answers like RevokeRFC7009 but revokes only the
	// token it is sent, as RFC 7009 allows: revoking an access token
	// leaves the grant's refresh token working, and revoking a refresh
	// token leaves the access tokens already issued working until they
	// expire.
	RevokeRFC7009Strict
	// RevokeAccessOnly answers like RevokeRFC7009Strict for an access
	// token, and refuses to revoke a refresh token with 400
	// unsupported_token_type (RFC 7009 section 2.2.1), as a server that
	// cannot revoke refresh tokens does: revoking leaves the grant's
	// refresh token working.
	RevokeAccessOnly
)

// BaseURL is the equivalent of ucoauth.BaseURL on this server.
func (s *Server) BaseURL() string { return s.URL + "/rest/v2" }

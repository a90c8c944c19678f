package ucoauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/internal/redact"
)

// Provider is what differs between OAuth servers: how a token or revoke
// request is encoded, how the answers are read and their errors mapped, and
// which headers the server's API wants. The engine (TokenSource, Manager,
// [Exchange], [Revoke], [Transport]) does the rest the same way for every
// provider: it sends the request without following redirects, over https
// (or plain http to loopback), within a deadline, reads at most 1 MiB of
// the answer, scrubs every secret of the call from errors and logs, and
// bounds a token's lifetime (see [FallbackLifetime], [MinLifetime],
// [MaxLifetime], and [RefreshPolicy], which a provider may state to grant
// longer lifetimes, refresh by age and keep extras such as the merchant's
// ID).
//
// The endpoints are the oauth2.Config's (cfg.Endpoint: AuthURL, TokenURL,
// DeviceAuthURL and AuthStyle, which a form request honours); a provider
// adds the revoke URL, which oauth2.Endpoint lacks.
//
// [UltraCart] is the default; [RFC6749] serves any server that follows RFC
// 6749 and RFC 7009. Choose one with [WithProvider].
type Provider interface {
	// TokenRequest encodes a token request. params holds the grant as RFC
	// 6749 names its fields: grant_type and code, redirect_uri and
	// code_verifier, refresh_token, or device_code.
	TokenRequest(cfg *oauth2.Config, params url.Values) (*Request, error)

	// ParseToken reads the token endpoint's answer. It returns the token,
	// or an error; a token together with an error is a token accepted
	// despite an anomaly (an unusable lifetime, say), which is logged.
	// The token's Expiry is an absolute expiry (expires_at); when it is
	// zero, ExpiresIn is a lifetime in seconds counted from when the
	// request was sent (expires_in); neither means the answer gave none.
	//
	// Errors reach the engine's classes through an [*Error]: Code
	// "invalid_grant" or StatusCode 410 means the merchant must authorize
	// again ([ErrReauthorizationRequired]); Code "invalid_client" or
	// "unauthorized_client", or a 401 without a code, means the
	// application is misconfigured ([ErrInvalidClient]); StatusCode 408,
	// 429 or 5xx is temporary, and RetryAfter delays the next attempt.
	// Any other error is permanent for this refresh.
	ParseToken(a *Answer) (*oauth2.Token, error)

	// RevokeRequest encodes a revoke request. params holds "token" and,
	// optionally, "token_type_hint" (RFC 7009). A server that revokes by
	// merchant may read "merchant_id" instead of a token.
	RevokeRequest(cfg *oauth2.Config, params url.Values) (*Request, error)

	// ParseRevoke reads the revoke endpoint's answer: nil when the token
	// is revoked. An [*Error] whose Code or ErrorCode is "invalid_token" or
	// "invalid_grant" says there was nothing left to revoke.
	ParseRevoke(a *Answer) error

	// SetAPIHeader adds to h, a request to the provider's API, the headers
	// the API wants beside Authorization. [Transport] calls it on its own
	// copy of each request; a header the request already has is kept.
	SetAPIHeader(h http.Header)
}

// Request is a request to an OAuth endpoint, as a [Provider] encodes it.
type Request struct {
	// URL is the endpoint: https, or plain http to a loopback address.
	URL string
	// Header holds headers to send, such as an Authorization the provider
	// computes itself ("Client <secret>") or an API key. Its values (and
	// what follows a scheme word, as in "Client <secret>") are scrubbed
	// from every error and log line, except those of Accept, Content-Type
	// and headers named "...-Version", which carry no credential.
	Header http.Header
	// Form is sent form-encoded, with the client credentials placed as
	// cfg.Endpoint.AuthStyle says.
	Form url.Values
	// JSON, when Form is nil, is sent as it is, as application/json: the
	// provider puts the client credentials where its server wants them.
	JSON []byte
}

// Answer is what an OAuth endpoint answered, for a [Provider] to read.
type Answer struct {
	// StatusCode is the HTTP status; 3xx answers never get this far.
	StatusCode int
	// Header is the answer's header.
	Header http.Header
	// Body is the answer's body, at most 1 MiB.
	Body []byte
	// Sent is when the request was sent: a lifetime counts from then, so
	// that time on the wire can only make a token look older.
	Sent time.Time
	// Received is when the answer arrived: a Retry-After date counts from
	// then.
	Received time.Time

	red *redactor // the call's secrets
}

func (a *Answer) response() *response {
	return &response{status: a.StatusCode, header: a.Header, body: a.Body}
}

// UltraCart returns the provider for UltraCart, the default: form requests,
// string expires_in, UltraCart's error envelope and UC-REST-ERROR header,
// revoke at the token URL's sibling ".../oauth/revoke", and its API version
// header on every API call.
func UltraCart() Provider { return ultraCart{} }

// RFC6749 returns a provider for a server that follows RFC 6749 (token
// requests), RFC 7009 (revocation at revokeURL; "" means the server has
// none) and RFC 8628, with the same tolerant reading as [UltraCart] and no
// extra API headers. The token and authorize URLs are the oauth2.Config's.
func RFC6749(revokeURL string) Provider { return rfc6749{revokeURL: revokeURL} }

type ultraCart struct{}

func (ultraCart) TokenRequest(cfg *oauth2.Config, params url.Values) (*Request, error) {
	return &Request{URL: cfg.Endpoint.TokenURL, Form: params}, nil
}

func (ultraCart) ParseToken(a *Answer) (*oauth2.Token, error) {
	w, err := decode(opToken, a.response(), a.red, a.Received)
	if err != nil {
		return nil, err
	}
	return tokenFromResponse(w, a.Sent, a.red)
}

func (ultraCart) RevokeRequest(cfg *oauth2.Config, params url.Values) (*Request, error) {
	return &Request{URL: revokeURL(cfg.Endpoint), Form: params}, nil
}

func (ultraCart) ParseRevoke(a *Answer) error { return revokeAnswer(a.response(), a.red, a.Received) }

func (ultraCart) SetAPIHeader(h http.Header) {
	if h.Get(headerAPIVersion) == "" {
		h.Set(headerAPIVersion, apiVersion)
	}
}

func (ultraCart) builtin() {}

type rfc6749 struct {
	ultraCart
	revokeURL string
}

func (p rfc6749) RevokeRequest(_ *oauth2.Config, params url.Values) (*Request, error) {
	if p.revokeURL == "" {
		return nil, errNoRevokeURL
	}
	return &Request{URL: p.revokeURL, Form: params}, nil
}

func (rfc6749) SetAPIHeader(http.Header) {}

var (
	errNoRevokeURL = errors.New("the provider has no revoke endpoint")
	// A provider's bugs, told as errors rather than panics in the engine.
	errNoRequest = errors.New("the provider made no request and no error")
	errNilError  = errors.New("the provider returned a nil *Error")
)

// builtin marks the providers of this package, whose readers add every
// token of an answer to the call's redactor as they parse it.
type builtin interface{ builtin() }

// wireOptions is what a call to an OAuth endpoint takes from a
// constructor's or a call's options.
type wireOptions struct {
	provider  Provider     // nil means UltraCart
	simpleKey string       // UltraCart's simple key header, when set
	client    *http.Client // nil means the context's, or the default
	revokeURL string       // overrides the provider's revoke URL
	now       clock        // nil means time.Now
}

// prov is the provider, UltraCart by default.
func (o wireOptions) prov() Provider {
	if o.provider == nil {
		return ultraCart{}
	}
	return o.provider
}

// clock is o's clock, time.Now by default.
func (o wireOptions) clock() clock {
	if o.now == nil {
		return time.Now
	}
	return o.now
}

// formSecrets are the request fields that carry a secret: the engine's
// (a grant's code or token) and those a provider may add of its own (a
// client secret it derived, an RFC 7523 assertion, a password).
var formSecrets = []string{"refresh_token", "code", "device_code", "code_verifier", "client_assertion", "token", "access_token",
	"client_secret", "assertion", "password"}

// ask sends a provider's request, reads the answer and turns what the
// provider made of it into what the engine trusts: errors scrubbed of
// every secret of the call (red's), as [*Error].
func ask(ctx context.Context, op string, cfg *oauth2.Config, o wireOptions, rq *Request, red *redactor) (*Answer, error) {
	now := o.clock()
	for _, k := range formSecrets {
		red.add(rq.Form[k]...)
	}
	if rq.Form == nil && rq.JSON != nil {
		red.add(jsonSecrets(rq.JSON)...)
	}
	sent := now()
	r, err := send(ctx, op, cfg, rq, wireCall{simpleKey: o.simpleKey, client: o.client, red: red})
	if err != nil {
		return nil, err
	}
	a := &Answer{StatusCode: r.status, Header: r.header, Body: r.body, Sent: sent, Received: now(), red: red}
	if _, ok := o.prov().(builtin); !ok {
		_, _ = parseBody(a.Body, red) // every token in the answer is a secret
	}
	return a, nil
}

// jsonSecrets are the values, in a provider's JSON request, of the fields
// a form would carry a secret in (formSecrets), or an answer a token in
// (redact.SecretKey): the provider may have made them (a signed
// client_assertion), so the engine cannot know them otherwise.
func jsonSecrets(body []byte) []string {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return nil
	}
	var vals []json.RawMessage
	for k, v := range top {
		if redact.SecretKey(k) || slices.Contains(formSecrets, strings.ToLower(k)) {
			vals = append(vals, v)
		}
	}
	return redact.AnswerSecrets(vals)
}

// send posts rq, a request a [Provider] built: a form, with the client
// credentials placed as cfg.Endpoint.AuthStyle says, or a JSON body as it
// is (the provider placed the credentials then).
func send(ctx context.Context, op string, cfg *oauth2.Config, rq *Request, wc wireCall) (*response, error) {
	wc.header = rq.Header
	if rq.Form == nil && rq.JSON != nil {
		return postJSON(ctx, op, cfg, rq.URL, rq.JSON, wc)
	}
	return postForm(ctx, op, cfg, rq.URL, rq.Form, wc)
}

// retrieveToken asks o's provider's token endpoint for a token. A token may
// come with an error: a warning about an anomaly it survived (see
// tokenFromResponse). secrets are scrubbed from every error, with the
// client secret, the simple key, the request's secrets and every token in
// the answer.
func retrieveToken(ctx context.Context, cfg *oauth2.Config, params url.Values, o wireOptions, secrets ...string) (*oauth2.Token, error) {
	p := o.prov()
	red := newRedactor(secrets...)
	for _, k := range formSecrets {
		red.add(params[k]...)
	}
	rq, err := p.TokenRequest(cfg, params)
	if err == nil && rq == nil {
		err = errNoRequest
	}
	if err != nil {
		return nil, scrubbed(opToken, 0, red, err)
	}
	a, err := ask(ctx, opToken, cfg, o, rq, red)
	if err != nil {
		return nil, err
	}
	tok, err := p.ParseToken(a)
	if tok == nil && err == nil {
		err = errors.New("the provider read no token and no error")
	}
	err = scrubbed(opToken, a.StatusCode, red, err)
	if tok == nil {
		return nil, err
	}
	pol := policyOf(p)
	tok, err = bounded(tok, a.Sent, pol.MaxLifetime, red, err)
	if tok != nil && len(pol.Extras) > 0 {
		tok = withAllExtras(tok, scopeOf(tok), "", keptExtras(pol, tok, nil, red))
	}
	return tok, err
}

// bounded checks a provider's token as tokenFromResponse does UltraCart's:
// an access token that can travel in a header, a lifetime within
// [MinLifetime, maxLife] (the provider's [RefreshPolicy].MaxLifetime)
// counted from sent ([FallbackLifetime] when there is none), and a blank
// refresh token taken as absent.
func bounded(tok *oauth2.Token, sent time.Time, maxLife time.Duration, red *redactor, warn error) (*oauth2.Token, error) {
	red.add(tok.AccessToken, tok.RefreshToken)
	if strings.TrimSpace(tok.AccessToken) == "" || !headerSafe(tok.AccessToken) {
		return nil, &Error{Op: opToken, StatusCode: http.StatusOK, red: red,
			Err: errors.New("response has no access_token that can be sent")}
	}
	if !isToken(tok.TokenType) {
		tok.TokenType = "bearer"
	}
	if strings.TrimSpace(tok.RefreshToken) == "" {
		tok.RefreshToken = ""
	}
	if tok.Expiry.IsZero() && tok.ExpiresIn > 0 {
		tok.Expiry = sent.Add(time.Duration(min(tok.ExpiresIn, int64(maxLife/time.Second))) * time.Second)
	}
	life := tok.Expiry.Sub(sent)
	switch {
	case tok.Expiry.IsZero() || life <= 0:
		life = FallbackLifetime
	case life < MinLifetime:
		life = MinLifetime
	case life > maxLife:
		life = maxLife
	}
	tok.Expiry, tok.ExpiresIn = sent.Add(life), int64(life/time.Second)
	return tok, warn
}

// scrubbed makes err, from a provider, an [*Error] scrubbed of red's
// secrets; an *Error of this package's own readers already is.
func scrubbed(op string, status int, red *redactor, err error) error {
	if err == nil {
		return nil
	}
	// Only an *Error itself is taken as it is: one wrapped in another
	// error would leave the outer text unscrubbed.
	e, ok := err.(*Error)
	if ok && e == nil {
		// A typed nil in a non-nil error: a provider's bug, which fails
		// closed (a revoke it answered so is not taken as done).
		return &Error{Op: op, StatusCode: status, Err: errNilError, red: red}
	}
	if !ok {
		return &Error{Op: op, StatusCode: status, Err: red.wrap(err), red: red}
	}
	if e.red == nil {
		e.red = red
		if e.Op == "" {
			e.Op = op
		}
		e.scrubFields()
	}
	return err
}

// revokeToken asks o's provider's revoke endpoint to revoke what params
// name (see [Provider.RevokeRequest]); red's secrets are scrubbed from its
// errors.
func revokeToken(ctx context.Context, cfg *oauth2.Config, params url.Values, o wireOptions, red *redactor) error {
	p := o.prov()
	rq, err := p.RevokeRequest(cfg, params)
	if err == nil && rq == nil {
		err = errNoRequest
	}
	if err != nil {
		return scrubbed(opRevoke, 0, red, err)
	}
	if o.revokeURL != "" {
		rq.URL = o.revokeURL
	}
	a, err := ask(ctx, opRevoke, cfg, o, rq, red)
	if err != nil {
		return err
	}
	return scrubbed(opRevoke, a.StatusCode, red, p.ParseRevoke(a))
}

// policyOf returns p's policy, bounded.
func policyOf(p Provider) RefreshPolicy {
	pp, ok := p.(interface{ Policy() RefreshPolicy })
	if !ok {
		return RefreshPolicy{MaxLifetime: MaxLifetime}
	}
	pol := pp.Policy()
	if pol.MaxLifetime <= 0 {
		pol.MaxLifetime = MaxLifetime
	}
	pol.MaxLifetime = min(max(pol.MaxLifetime, MinLifetime), MaxProviderLifetime)
	pol.RefreshAfterAge = max(pol.RefreshAfterAge, 0)
	if pol.RefreshAfterAge > 0 {
		// A token stale as it is issued would be refreshed again at
		// once, as fast as callers call.
		pol.RefreshAfterAge = max(pol.RefreshAfterAge, MinLifetime)
	}
	pol.StaleAfter = max(pol.StaleAfter, 0)
	var names []string
	for _, k := range pol.Extras {
		// The engine's own extras are not the provider's to keep.
		if !reservedExtra(k) && len(k) <= 64 && len(names) < maxExtras {
			names = append(names, k)
		}
	}
	pol.Extras = names
	return pol
}

package ucoauth

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// This file sends requests to OAuth endpoints: the client that never
// follows a redirect, the URL check, client authentication and the capped
// read. It reads answers only through decode.go (authRefused).

const (
	// maxBody caps how much of a response is read: token responses are a few
	// hundred bytes, and a proxy's error page must not exhaust memory.
	maxBody = 1 << 20

	// DefaultTimeout bounds a call to an OAuth endpoint whose context has no
	// deadline.
	DefaultTimeout = 30 * time.Second
)

// refuseRedirect keeps every OAuth call on the URL it was configured with.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// defaultClient is used when neither an option nor the context's
// oauth2.HTTPClient gives a client. It has its own transport, so that a
// caller mutating http.DefaultTransport (or a test swapping it) does not
// change how tokens travel.
var defaultClient = &http.Client{
	Transport:     http.DefaultTransport.(*http.Transport).Clone(),
	CheckRedirect: refuseRedirect,
}

// wireClient returns c, or the context's oauth2.HTTPClient, as a shallow
// copy that never follows a redirect: a redirect would re-send the client
// secret and a refresh token to wherever the answer points.
func wireClient(ctx context.Context, c *http.Client) *http.Client {
	if c == nil {
		c, _ = ctx.Value(oauth2.HTTPClient).(*http.Client)
	}
	if c == nil {
		return defaultClient
	}
	cc := *c
	cc.CheckRedirect = refuseRedirect
	return &cc
}

// checkURL refuses plain http unless the host is loopback.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("ucoauth: bad endpoint URL: %w", err)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%w: %s", ErrInsecureEndpoint, u.Redacted())
	}
	return fmt.Errorf("ucoauth: endpoint URL %q must be https", u.Redacted())
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// wireCall is what one call to an OAuth endpoint needs beyond the config.
type wireCall struct {
	simpleKey string       // sent in UltraCart's simple key header when set
	client    *http.Client // nil means the context's, or the default
	red       *redactor    // the call's secrets; the caller adds the credentials
	header    http.Header  // the provider's headers for this request
}

// caller is one call to one endpoint, ready to send.
type caller struct {
	op        string
	cfg       *oauth2.Config
	endpoint  string
	client    *http.Client
	red       *redactor
	header    http.Header
	simpleKey string
}

// newCaller checks endpoint and makes red scrub every credential the call
// may send: the client secret (raw and as HTTP Basic), the simple key and
// the values of the provider's headers (see credentialHeader).
func newCaller(ctx context.Context, op string, cfg *oauth2.Config, endpoint string, wc wireCall) (*caller, error) {
	red := wc.red
	if red == nil {
		red = newRedactor()
	}
	red.add(cfg.ClientSecret, wc.simpleKey)
	if cfg.ClientSecret != "" {
		red.add(basicCredentials(cfg))
	}
	for k, vs := range wc.header {
		if !credentialHeader(k) {
			continue
		}
		for _, v := range vs {
			scheme, cred, spaced := strings.Cut(v, " ")
			if spaced && strings.TrimSpace(cred) == "" && isToken(scheme) {
				continue // a scheme word alone ("Client "): no credential in it
			}
			red.add(v, cred)
		}
	}
	if err := checkURL(endpoint); err != nil {
		return nil, &Error{Op: op, Err: red.wrap(err), red: red}
	}
	return &caller{op: op, cfg: cfg, endpoint: endpoint, client: wireClient(ctx, wc.client),
		red: red, header: wc.header, simpleKey: wc.simpleKey}, nil
}

// credentialHeader reports whether a provider's header k may carry a
// credential: any header (Authorization, an API key, a signature) but the
// few that only describe the body or the API version, whose values are
// common words that scrubbing would only blot out of messages.
func credentialHeader(k string) bool {
	k = http.CanonicalHeaderKey(k)
	switch k {
	case "Accept", "Content-Type":
		return false
	}
	return !strings.HasSuffix(k, "-Version")
}

// basicCredentials is what HTTP Basic carries, before base64: RFC 6749
// section 2.3.1 form-encodes both parts first.
func basicCredentials(cfg *oauth2.Config) string {
	return url.QueryEscape(cfg.ClientID) + ":" + url.QueryEscape(cfg.ClientSecret)
}

// withDeadline bounds ctx by DefaultTimeout unless it has a deadline.
func withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// newRequest is a POST of body to the endpoint with the call's headers.
func (c *caller) newRequest(ctx context.Context, contentType, body string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(body))
	if err != nil {
		return nil, &Error{Op: c.op, Err: c.red.wrap(err), red: c.red}
	}
	for k, vs := range c.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	if c.simpleKey != "" {
		req.Header.Set(headerSimpleKey, c.simpleKey)
	}
	return req, nil
}

// postJSON sends body, a provider's JSON request, as it is.
func postJSON(ctx context.Context, op string, cfg *oauth2.Config, endpoint string, body []byte, wc wireCall) (*response, error) {
	c, err := newCaller(ctx, op, cfg, endpoint, wc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	req, err := c.newRequest(ctx, "application/json", string(body))
	if err != nil {
		return nil, err
	}
	return do(c.client, req, op, c.red)
}

// styleKey names an endpoint and client whose auth style was detected.
type styleKey struct{ url, clientID string }

// detectedStyles remembers, per endpoint URL and client ID, the style that
// worked under oauth2.AuthStyleAutoDetect, as x/oauth2 does.
var detectedStyles sync.Map // styleKey -> oauth2.AuthStyle

// postForm sends form to endpoint with the client credentials placed as
// cfg.Endpoint.AuthStyle says, and reads the capped response. It never
// follows a redirect: a 3xx is an *Error wrapping ErrRedirect.
//
// Under oauth2.AuthStyleAutoDetect it tries HTTP Basic first and, when that
// is refused for client authentication (see authRefused), the form: the
// request (a refresh token included) is then sent twice. A network error,
// any other status, or a 400 about the grant itself says nothing against
// Basic, so it is not retried.
func postForm(ctx context.Context, op string, cfg *oauth2.Config, endpoint string, form url.Values, wc wireCall) (*response, error) {
	c, err := newCaller(ctx, op, cfg, endpoint, wc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	key := styleKey{endpoint, cfg.ClientID}
	style, probe := authStyle(cfg, key)
	r, err := c.sendForm(ctx, style, form)
	if probe && err == nil && authRefused(r) {
		style = oauth2.AuthStyleInParams
		r, err = c.sendForm(ctx, style, form)
	}
	if err != nil {
		return nil, err
	}
	if probe && r.status >= 200 && r.status < 300 {
		detectedStyles.Store(key, style)
	}
	return r, nil
}

// authStyle is the style to send with; probe is true when it is a guess
// under AuthStyleAutoDetect that a refusal may overturn.
func authStyle(cfg *oauth2.Config, key styleKey) (style oauth2.AuthStyle, probe bool) {
	if cfg.Endpoint.AuthStyle != oauth2.AuthStyleAutoDetect {
		return cfg.Endpoint.AuthStyle, false
	}
	if s, ok := detectedStyles.Load(key); ok {
		return s.(oauth2.AuthStyle), false
	}
	return oauth2.AuthStyleInHeader, true
}

// sendForm posts form with the client credentials placed as style says.
func (c *caller) sendForm(ctx context.Context, style oauth2.AuthStyle, form url.Values) (*response, error) {
	req, err := c.newRequest(ctx, "application/x-www-form-urlencoded", withCredentials(form, c.cfg, style).Encode())
	if err != nil {
		return nil, err
	}
	if style == oauth2.AuthStyleInHeader {
		// RFC 6749 section 2.3.1: both are form-encoded first.
		req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
	}
	return do(c.client, req, c.op, c.red)
}

// withCredentials is a copy of form with client_id and client_secret in it,
// unless style sends them in the header; an empty one is left out.
func withCredentials(form url.Values, cfg *oauth2.Config, style oauth2.AuthStyle) url.Values {
	v := make(url.Values, len(form)+2)
	for k, vs := range form {
		v[k] = append([]string(nil), vs...)
	}
	if style == oauth2.AuthStyleInHeader {
		return v
	}
	if cfg.ClientID != "" {
		v.Set("client_id", cfg.ClientID)
	}
	if cfg.ClientSecret != "" {
		v.Set("client_secret", cfg.ClientSecret)
	}
	return v
}

// authRefused reports whether an answer to HTTP Basic client
// authentication may mean the server wanted the credentials in the form: a
// 401, or a 400 whose code is invalid_client, unauthorized_client,
// invalid_request (a missing client_id), unknown or unreadable. A 400 with
// another RFC code (invalid_grant, invalid_scope...), as the RFC 6749 error
// or UltraCart's error_code, was decided past client authentication.
func authRefused(r *response) bool {
	switch r.status {
	case http.StatusUnauthorized:
		return true
	case http.StatusBadRequest:
	default:
		return false
	}
	w, err := parseBody(r.body, newRedactor())
	if err != nil {
		return true
	}
	code := w.errorCode()
	if obj, ok := parseErrorObject(w.Error); ok && code == "" {
		code = obj.ErrorCode.s
	}
	switch code {
	case "invalid_client", "unauthorized_client", "invalid_request":
		return true
	}
	return !knownCodes[code]
}

// do sends req and reads the capped answer; a redirect is an error.
func do(client *http.Client, req *http.Request, op string, red *redactor) (*response, error) {
	resp, err := client.Do(req)
	if err != nil {
		// url.Error holds the URL only; the secrets travel in the body.
		// It is scrubbed all the same: a transport may say anything.
		return nil, &Error{Op: op, Err: red.wrap(err), red: red}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, &Error{Op: op, StatusCode: resp.StatusCode, Err: red.wrap(fmt.Errorf("reading response: %w", err)), red: red}
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		// Nothing in a redirect is used: not its body, not its Location.
		return nil, &Error{Op: op, StatusCode: resp.StatusCode, Err: ErrRedirect, red: red}
	}
	if followed(resp) {
		// The caller's Transport followed a redirect itself (an inner
		// http.Client, say): the answer comes from wherever it pointed.
		return nil, &Error{Op: op, StatusCode: resp.StatusCode, Err: ErrRedirect, red: red}
	}
	if len(body) > maxBody {
		return nil, &Error{Op: op, StatusCode: resp.StatusCode, Err: fmt.Errorf("response body exceeds %d bytes", maxBody), red: red}
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// followed reports whether resp answers a request that an http.Client made
// to follow a redirect: only those carry the redirect response that caused
// them. A Transport that rewrites a request's URL (a test double, a proxy)
// sets no such field, and is not taken for a redirect.
func followed(resp *http.Response) bool {
	return resp.Request != nil && resp.Request.Response != nil
}

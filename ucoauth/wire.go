package ucoauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

const (
	opToken     = "token"
	opRevoke    = "revoke"
	opDeviceReq = "device authorize"

	// maxBody caps how much of a response is read: token responses are a few
	// hundred bytes, and a proxy's error page must not exhaust memory.
	maxBody = 1 << 20

	// DefaultTimeout bounds a call to UltraCart whose context has no deadline.
	DefaultTimeout = 30 * time.Second

	// FallbackLifetime is the lifetime given to a token whose expires_in is
	// missing, empty, null, zero, negative or unreadable. UltraCart does not
	// document token lifetimes; the one figure it publishes elsewhere is 60
	// minutes. A quarter of that keeps a token with an unknown lifetime
	// refreshing (never living forever) without spending the rate limit.
	FallbackLifetime = 15 * time.Minute

	// MaxLifetime caps an absurdly large expires_in, so that no token is
	// trusted for longer than a day without a refresh.
	MaxLifetime = 24 * time.Hour
)

type simpleKeyCtx struct{}

// SimpleKeyContext returns a context that makes [Exchange], [Revoke] and
// [DeviceAccessToken] send key in the X-UltraCart-Simple-Key header, as
// UltraCart's own SDKs do. A TokenSource uses [WithSimpleKey] instead.
func SimpleKeyContext(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, simpleKeyCtx{}, key)
}

// defaultClient is used when the context carries no oauth2.HTTPClient. It has
// its own transport, so that a caller mutating http.DefaultTransport (or a
// test swapping it) does not change how tokens travel.
var defaultClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}

func contextClient(ctx context.Context) *http.Client {
	if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
		return c
	}
	return defaultClient
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

// response is what postForm read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// postForm sends form to endpoint with client credentials and reads the
// capped response. secrets are scrubbed from any error it returns.
func postForm(ctx context.Context, op string, cfg *oauth2.Config, endpoint string, form url.Values, simpleKey string) (*response, error) {
	if err := checkURL(endpoint); err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	form.Set("client_id", cfg.ClientID)
	if cfg.ClientSecret != "" {
		form.Set("client_secret", cfg.ClientSecret)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if simpleKey == "" {
		simpleKey, _ = ctx.Value(simpleKeyCtx{}).(string)
	}
	if simpleKey != "" {
		req.Header.Set(HeaderSimpleKey, simpleKey)
	}
	resp, err := contextClient(ctx).Do(req)
	if err != nil {
		// url.Error holds the URL only; the secrets travel in the body.
		return nil, &Error{Op: op, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, &Error{Op: op, StatusCode: resp.StatusCode, Err: fmt.Errorf("reading response: %w", err)}
	}
	if len(body) > maxBody {
		return nil, &Error{Op: op, StatusCode: resp.StatusCode, Err: fmt.Errorf("response body exceeds %d bytes", maxBody)}
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// flexString decodes a JSON string, number, boolean or null as text, because
// UltraCart documents every field as a string but a proxy or a future version
// may well send numbers.
type flexString struct {
	s       string
	present bool // the field was there and not null
}

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '"':
		f.present = true
		return json.Unmarshal(b, &f.s)
	case len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9') || b[0] == 't' || b[0] == 'f'):
		f.s, f.present = string(b), true
		return nil
	}
	return fmt.Errorf("want a string or a number, got %.20s", b)
}

// wireBody holds every field any of UltraCart's OAuth responses may carry,
// including the RFC 6749 error fields and an ErrorResponse envelope.
type wireBody struct {
	AccessToken  flexString `json:"access_token"`
	TokenType    flexString `json:"token_type"`
	RefreshToken flexString `json:"refresh_token"`
	ExpiresIn    flexString `json:"expires_in"`
	Scope        flexString `json:"scope"`

	Error            json.RawMessage `json:"error"` // a code string, or an ErrorResponse object
	ErrorDescription flexString      `json:"error_description"`
	ErrorURI         flexString      `json:"error_uri"`

	Successful *bool      `json:"successful"` // revoke
	Message    flexString `json:"message"`    // revoke
}

type ucErrorObject struct {
	DeveloperMessage string `json:"developer_message"`
	UserMessage      string `json:"user_message"`
	ErrorCode        string `json:"error_code"`
}

// decode parses a response body as JSON and turns any error it or the status
// carries into an *Error. secrets are scrubbed from server-supplied text, in
// case the server echoes what it was sent.
func decode(op string, r *response, secrets ...string) (*wireBody, error) {
	e := &Error{Op: op}
	e.Message = r.header.Get(HeaderRESTError)
	e.MerchantID = r.header.Get(HeaderRESTErrorMerchantID)
	if r.status == http.StatusTooManyRequests || r.status == http.StatusServiceUnavailable {
		e.RetryAfter = retryAfter(r.header.Get("Retry-After"))
	}

	var w wireBody
	jsonErr := json.Unmarshal(r.body, &w)
	if jsonErr == nil {
		e.Code, e.Description, e.URI = w.errorCode(), w.ErrorDescription.s, w.ErrorURI.s
		var obj ucErrorObject
		if len(w.Error) > 0 && w.Error[0] == '{' && json.Unmarshal(w.Error, &obj) == nil {
			e.ErrorCode = obj.ErrorCode
			if e.Message == "" {
				e.Message = firstNonEmpty(obj.DeveloperMessage, obj.UserMessage)
			}
		}
	}

	ok := r.status >= 200 && r.status < 300
	switch {
	case ok && jsonErr != nil:
		e.StatusCode = r.status
		e.Err = notJSON(r, jsonErr)
	case ok && e.Code == "" && e.Message == "" && e.ErrorCode == "":
		return &w, nil
	case ok:
		e.StatusCode = r.status // an error inside a 200 body
	default:
		e.StatusCode = r.status
		if jsonErr != nil && e.Message == "" && len(bytes.TrimSpace(r.body)) > 0 {
			e.Err = notJSON(r, jsonErr)
		}
	}
	e.Description = scrub(e.Description, secrets)
	e.Message = scrub(e.Message, secrets)
	e.URI = scrub(e.URI, secrets)
	return nil, e
}

func (w *wireBody) errorCode() string {
	var s string
	if len(w.Error) > 0 && w.Error[0] == '"' && json.Unmarshal(w.Error, &s) == nil {
		return s
	}
	return ""
}

// notJSON describes a body that is not JSON without quoting it: an error page
// is harmless, but a misbehaving server could answer in form encoding, with
// the token in it.
func notJSON(r *response, err error) error {
	ct := r.header.Get("Content-Type")
	if mt, _, perr := mime.ParseMediaType(ct); perr == nil {
		ct = mt
	}
	var se *json.SyntaxError
	if errors.As(err, &se) || len(bytes.TrimSpace(r.body)) == 0 {
		return fmt.Errorf("response is not JSON (Content-Type %q, %d bytes)", ct, len(r.body))
	}
	return fmt.Errorf("response JSON has an unexpected shape: %w", err)
}

func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	return s
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// retryAfter reads a Retry-After header given in seconds or as an HTTP date.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// parseExpiresIn reads expires_in. ok is false when the value gives no usable
// lifetime (missing, empty, null, zero or negative); err is set, with ok
// false, when it is not a number at all.
func parseExpiresIn(f flexString) (d time.Duration, ok bool, err error) {
	s := strings.TrimSpace(f.s)
	if !f.present || s == "" {
		return 0, false, nil
	}
	secs, perr := strconv.ParseFloat(s, 64)
	if perr != nil || math.IsNaN(secs) || math.IsInf(secs, 0) {
		return 0, false, fmt.Errorf("%w: %.32q is not a number of seconds", ErrBadExpiresIn, s)
	}
	if secs <= 0 {
		return 0, false, nil
	}
	if secs >= MaxLifetime.Seconds() {
		return MaxLifetime, true, nil
	}
	return time.Duration(secs * float64(time.Second)), true, nil
}

// tokenFromResponse builds a token from a successful token response. sent is
// when the request was sent: expiry counts from then, so that time spent on
// the wire can only make the token look older, never younger.
//
// A response whose expires_in is garbage still yields its token, with
// FallbackLifetime, together with an error matching ErrBadExpiresIn: the
// access token works, and the refresh token in it may be the only live one.
func tokenFromResponse(w *wireBody, sent time.Time) (*oauth2.Token, error) {
	if strings.TrimSpace(w.AccessToken.s) == "" {
		return nil, &Error{Op: opToken, StatusCode: http.StatusOK, Err: errors.New("response has no access_token")}
	}
	lifetime, ok, expErr := parseExpiresIn(w.ExpiresIn)
	if !ok {
		lifetime = FallbackLifetime
	}
	tok := &oauth2.Token{
		AccessToken:  w.AccessToken.s,
		TokenType:    w.TokenType.s,
		RefreshToken: w.RefreshToken.s,
		Expiry:       sent.Add(lifetime),
		ExpiresIn:    int64(lifetime / time.Second),
	}
	if w.Scope.s != "" {
		tok = tok.WithExtra(map[string]any{"scope": w.Scope.s})
	}
	if expErr != nil {
		return tok, &Error{Op: opToken, StatusCode: http.StatusOK, Err: expErr}
	}
	return tok, nil
}

// scopeOf returns the scope a token was granted, or "".
func scopeOf(t *oauth2.Token) string {
	s, _ := t.Extra("scope").(string)
	return s
}

// withScope returns t carrying scope, or t itself when scope is empty.
func withScope(t *oauth2.Token, scope string) *oauth2.Token {
	if scope == "" {
		return t
	}
	return t.WithExtra(map[string]any{"scope": scope})
}

// clock lets the TokenSource and the wire share one notion of now.
type clock func() time.Time

// retrieveToken posts a token request and parses the answer.
func retrieveToken(ctx context.Context, cfg *oauth2.Config, form url.Values, simpleKey string, now clock, secrets ...string) (*oauth2.Token, error) {
	if now == nil {
		now = time.Now
	}
	sent := now()
	r, err := postForm(ctx, opToken, cfg, cfg.Endpoint.TokenURL, form, simpleKey)
	if err != nil {
		return nil, err
	}
	w, err := decode(opToken, r, append(secrets, cfg.ClientSecret)...)
	if err != nil {
		return nil, err
	}
	return tokenFromResponse(w, sent)
}

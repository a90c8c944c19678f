package ucoauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"
)

const (
	opToken     = "token"
	opRevoke    = "revoke"
	opDeviceReq = "device authorize"

	// maxBody caps how much of a response is read: token responses are a few
	// hundred bytes, and a proxy's error page must not exhaust memory.
	maxBody = 1 << 20

	// maxText caps each piece of server text kept in an *Error, so that a
	// hostile answer cannot blow up every log line that prints it.
	maxText = 1 << 10

	// DefaultTimeout bounds a call to UltraCart whose context has no deadline.
	DefaultTimeout = 30 * time.Second

	// FallbackLifetime is the lifetime given to a token whose expires_in is
	// missing, empty, null, zero, negative or unreadable. UltraCart does not
	// document token lifetimes; the one figure it publishes elsewhere is 60
	// minutes. A quarter of that keeps a token with an unknown lifetime
	// refreshing (never living forever) without spending the rate limit.
	FallbackLifetime = 15 * time.Minute

	// MinLifetime is the shortest lifetime a token is given: a positive
	// expires_in below it ("0.001", "1e-300") is raised to it. With the early
	// refresh window capped at half the lifetime, a TokenSource then
	// refreshes at most once a second (one minimum backoff step), whatever
	// the server says, instead of once per Token call.
	MinLifetime = 2 * time.Second

	// MaxLifetime caps an absurdly large expires_in, so that no token is
	// trusted for longer than a day without a refresh.
	MaxLifetime = 24 * time.Hour

	// MaxRetryAfter caps a Retry-After header, given in seconds or as a
	// date: UltraCart's rate limit window is an hour, so no answer can park
	// a merchant longer, and no value can overflow into the past.
	MaxRetryAfter = time.Hour
)

type simpleKeyCtx struct{}

// SimpleKeyContext returns a context that makes [Exchange], [Revoke] and
// [DeviceAccessToken] send key in the X-UltraCart-Simple-Key header, as
// UltraCart's own SDKs do. A TokenSource uses [WithSimpleKey] instead.
func SimpleKeyContext(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, simpleKeyCtx{}, key)
}

type loggerCtx struct{}

// LoggerContext returns a context that makes [Exchange] and
// [DeviceAccessToken] log to l the anomalies of an answer they still accept
// (an unusable expires_in or token_type, a refresh_token that is not a JSON
// string): they return the token without an error, because its refresh token
// may be the only live one. Without it they log to slog.Default(). A
// TokenSource logs to [WithLogger] instead.
func LoggerContext(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerCtx{}, l)
}

func loggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerCtx{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.Default()
}

// refuseRedirect keeps every OAuth call on the URL it was configured with.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// defaultClient is used when the context carries no oauth2.HTTPClient. It has
// its own transport, so that a caller mutating http.DefaultTransport (or a
// test swapping it) does not change how tokens travel.
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

// response is what postForm read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// wireCall is what one call to an OAuth endpoint needs beyond the config.
type wireCall struct {
	simpleKey string       // "" means the context's, if any
	client    *http.Client // nil means the context's, or the default
	red       *redactor    // the call's secrets; postForm adds the credentials
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
	red := wc.red
	if red == nil {
		red = newRedactor()
	}
	simpleKey := wc.simpleKey
	if simpleKey == "" {
		simpleKey, _ = ctx.Value(simpleKeyCtx{}).(string)
	}
	basic := url.QueryEscape(cfg.ClientID) + ":" + url.QueryEscape(cfg.ClientSecret)
	red.add(cfg.ClientSecret, simpleKey)
	if cfg.ClientSecret != "" {
		red.add(basic)
	}
	if err := checkURL(endpoint); err != nil {
		return nil, &Error{Op: op, Err: red.wrap(err), red: red}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	client := wireClient(ctx, wc.client)

	style, probe := cfg.Endpoint.AuthStyle, false
	key := styleKey{endpoint, cfg.ClientID}
	if style == oauth2.AuthStyleAutoDetect {
		if s, ok := detectedStyles.Load(key); ok {
			style = s.(oauth2.AuthStyle)
		} else {
			style, probe = oauth2.AuthStyleInHeader, true
		}
	}
	send := func(style oauth2.AuthStyle) (*response, error) {
		v := make(url.Values, len(form)+2)
		for k, vs := range form {
			v[k] = append([]string(nil), vs...)
		}
		if style != oauth2.AuthStyleInHeader {
			if cfg.ClientID != "" {
				v.Set("client_id", cfg.ClientID)
			}
			if cfg.ClientSecret != "" {
				v.Set("client_secret", cfg.ClientSecret)
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(v.Encode()))
		if err != nil {
			return nil, &Error{Op: op, Err: red.wrap(err), red: red}
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		if style == oauth2.AuthStyleInHeader {
			// RFC 6749 section 2.3.1: both are form-encoded first.
			req.SetBasicAuth(url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret))
		}
		if simpleKey != "" {
			req.Header.Set(HeaderSimpleKey, simpleKey)
		}
		return do(client, req, op, red)
	}

	r, err := send(style)
	if probe && err == nil && authRefused(r) {
		style = oauth2.AuthStyleInParams
		r, err = send(style)
	}
	if err != nil {
		return nil, err
	}
	if probe && r.status >= 200 && r.status < 300 {
		detectedStyles.Store(key, style)
	}
	return r, nil
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

// flexString decodes a JSON string, number, boolean or null as text, because
// UltraCart documents every field as a string but a proxy or a future version
// may well send numbers.
type flexString struct {
	s       string
	present bool // the field was there and not null
	str     bool // it was a JSON string, not a number or a boolean
}

// errShape is a field whose JSON value is neither a string, a number, a
// boolean nor null. The value itself is never quoted: it may hold a token.
type errShape struct{ field, got string }

func (e *errShape) Error() string {
	return fmt.Sprintf("field %q: want a string or a number, got %s", e.field, e.got)
}

func (f *flexString) set(field string, b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return &errShape{field, "nothing"}
	case string(b) == "null":
		return nil
	case b[0] == '"':
		if err := json.Unmarshal(b, &f.s); err != nil {
			return &errShape{field, "a malformed string"}
		}
		f.present, f.str = true, true
		return nil
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9') || b[0] == 't' || b[0] == 'f':
		f.s, f.present = string(b), true
		return nil
	case b[0] == '[':
		return &errShape{field, "an array"}
	case b[0] == '{':
		return &errShape{field, "an object"}
	}
	return &errShape{field, "something else"}
}

// wireBody holds every field any of UltraCart's OAuth responses may carry,
// including the RFC 6749 error fields and an ErrorResponse envelope.
type wireBody struct {
	AccessToken  flexString
	TokenType    flexString
	RefreshToken flexString
	ExpiresIn    flexString
	Scope        flexString

	Error            json.RawMessage // a code string, or an ErrorResponse object
	ErrorDescription flexString
	ErrorURI         flexString

	Successful flexString // revoke: "true" or "false"
	Message    flexString // revoke

	// Device authorization (RFC 8628 section 3.2).
	DeviceCode              flexString
	UserCode                flexString
	VerificationURI         flexString
	VerificationURIComplete flexString
	Interval                flexString
}

// isString reports whether the field was a JSON string.
func (f flexString) isString() bool { return f.present && f.str }

// fields maps the exact JSON keys (case-sensitive: ACCESS_TOKEN is not
// access_token) to where they are decoded.
func (w *wireBody) fields() map[string]*flexString {
	return map[string]*flexString{
		"access_token":      &w.AccessToken,
		"token_type":        &w.TokenType,
		"refresh_token":     &w.RefreshToken,
		"expires_in":        &w.ExpiresIn,
		"scope":             &w.Scope,
		"error_description": &w.ErrorDescription,
		"error_uri":         &w.ErrorURI,
		"successful":        &w.Successful,
		"message":           &w.Message,

		"device_code":               &w.DeviceCode,
		"user_code":                 &w.UserCode,
		"verification_uri":          &w.VerificationURI,
		"verification_uri_complete": &w.VerificationURIComplete,
		"interval":                  &w.Interval,
	}
}

var errNotObject = errors.New("the body is not a JSON object")

// maxAnswerSecrets caps how many distinct strings one answer adds to the
// redactor: a real answer carries two or three tokens, and a hostile one must
// not make every later scrub (and the replacer built for it) costly.
const maxAnswerSecrets = 64

// parseBody decodes a JSON object through exact keys. Every string under a
// key that names a token (access_token, refresh_token, id_token, ACCESS_TOKEN,
// device_code...: see secretKey) is added to red, even when the parse then
// fails, so that no error can quote it: top-level strings first, then
// strings nested in arrays or objects under those keys, at most
// maxAnswerSecrets of them. Strings under any other key are not secrets.
// The cost is linear in the size of body.
//
// A key given twice with different values makes the whole answer ambiguous
// and is refused: guessing which refresh token is the live one could store
// the dead one.
func parseBody(body []byte, red *redactor) (*wireBody, error) {
	var secretVals []json.RawMessage
	defer func() { red.add(answerSecrets(secretVals)...) }()

	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, errNotObject
	}
	raw := map[string]json.RawMessage{}
	var dup string
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if secretKey(k) {
			secretVals = append(secretVals, v)
		}
		if prev, ok := raw[k]; ok && !sameJSON(prev, v) && dup == "" {
			dup = k
		}
		raw[k] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &json.SyntaxError{Offset: dec.InputOffset()}
	}
	if dup != "" {
		// Not clipped: a clip could cut a secret the key holds, which the
		// caller then no longer recognises to scrub.
		if len(dup) > maxText {
			return nil, fmt.Errorf("conflicting duplicate fields (a %d-byte key)", len(dup))
		}
		return nil, fmt.Errorf("conflicting duplicate %q fields", dup)
	}
	w := &wireBody{}
	for k, f := range w.fields() {
		if v, ok := raw[k]; ok {
			if err := f.set(k, v); err != nil {
				return nil, err
			}
		}
	}
	w.Error = raw["error"]
	return w, nil
}

// answerSecrets returns the strings held by vals (the values of token keys,
// in the answer's order), at most maxAnswerSecrets distinct ones: top-level
// strings first, so that padding nested under one key cannot push out the
// token of another, then strings nested in arrays and objects.
func answerSecrets(vals []json.RawMessage) []string {
	var out []string
	seen := make(map[string]struct{})
	add := func(s string) bool {
		for _, x := range [2]string{s, strings.TrimSpace(s)} {
			if len(out) >= maxAnswerSecrets {
				return false
			}
			if _, ok := seen[x]; !ok && len(x) >= minSecretLen {
				seen[x] = struct{}{}
				out = append(out, x)
			}
		}
		return true
	}
	var nested []json.RawMessage
	for _, v := range vals {
		v = bytes.TrimSpace(v)
		if len(v) > 0 && v[0] == '"' {
			var s string
			if json.Unmarshal(v, &s) == nil && !add(s) {
				return out
			}
		} else if len(v) > 0 && (v[0] == '[' || v[0] == '{') {
			nested = append(nested, v)
		}
	}
	for _, v := range nested {
		if !jsonStrings(v, add) {
			break
		}
	}
	return out
}

// jsonStrings calls yield with every string inside raw JSON (keys of
// objects excluded), in order, until yield returns false; it reports
// whether it went through all of them. It reads raw once.
func jsonStrings(raw json.RawMessage, yield func(string) bool) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var inObject []bool // per open container: an object, whose next string may be a key
	expectKey := false
	for {
		t, err := dec.Token()
		if err != nil {
			return true // io.EOF, or malformed: what was read was yielded
		}
		switch t := t.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				inObject = append(inObject, t == '{')
				expectKey = t == '{'
			case '}', ']':
				inObject = inObject[:len(inObject)-1]
				expectKey = len(inObject) > 0 && inObject[len(inObject)-1]
			}
			continue
		case string:
			if expectKey {
				expectKey = false
				continue
			}
			if !yield(t) {
				return false
			}
		}
		// A value was read: inside an object, a key comes next.
		expectKey = len(inObject) > 0 && inObject[len(inObject)-1]
	}
}

// secretKey reports whether a response key may hold a token: one of the
// fixed names below, in any case (ACCESS_TOKEN, Refresh_Token). Only these
// keys are read for secrets, so that padding under other keys costs nothing.
func secretKey(k string) bool {
	if len(k) > len("refresh_token") {
		return false
	}
	switch strings.ToLower(k) {
	case "access_token", "refresh_token", "id_token", "token", "code", "device_code", "user_code", "client_secret":
		return true
	}
	return false
}

// knownCodes are the error codes of RFC 6749, 7009 and 8628. They are never
// scrubbed: they are not secrets, and the library decides on them.
var knownCodes = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true, "unauthorized_client": true,
	"unsupported_grant_type": true, "invalid_scope": true, "access_denied": true, "unsupported_response_type": true,
	"server_error": true, "temporarily_unavailable": true, "invalid_token": true, "unsupported_token_type": true,
	"authorization_pending": true, "slow_down": true, "expired_token": true,
}

func sameJSON(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

type ucErrorObject struct {
	DeveloperMessage flexString
	UserMessage      flexString
	ErrorCode        flexString
}

func parseErrorObject(raw json.RawMessage) (o ucErrorObject, ok bool) {
	var m map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		return o, false
	}
	// Tolerant: a field of the wrong shape is skipped, not fatal.
	_ = o.DeveloperMessage.set("developer_message", m["developer_message"])
	_ = o.UserMessage.set("user_message", m["user_message"])
	_ = o.ErrorCode.set("error_code", m["error_code"])
	return o, true
}

// decode parses a response body and turns any error it or the status
// carries into an *Error. Every string taken from the answer is scrubbed of
// the call's secrets (red), in case the server echoes what it was sent. now
// is when the answer came, on the caller's clock: a Retry-After date counts
// from it.
func decode(op string, r *response, red *redactor, now time.Time) (*wireBody, error) {
	e := &Error{Op: op, red: red}
	e.Message = r.header.Get(HeaderRESTError)
	e.MerchantID = r.header.Get(HeaderRESTErrorMerchantID)
	if r.status == http.StatusTooManyRequests || r.status == http.StatusServiceUnavailable {
		e.RetryAfter = retryAfter(r.header.Get("Retry-After"), now)
	}

	w, jsonErr := parseBody(r.body, red)
	if jsonErr == nil {
		e.Code, e.Description, e.URI = w.errorCode(), w.ErrorDescription.s, w.ErrorURI.s
		if obj, ok := parseErrorObject(w.Error); ok {
			e.ErrorCode = obj.ErrorCode.s
			if e.Message == "" {
				e.Message = firstNonEmpty(obj.DeveloperMessage.s, obj.UserMessage.s)
			}
		}
	}

	ok := r.status >= 200 && r.status < 300
	switch {
	case ok && jsonErr != nil:
		e.StatusCode = r.status
		e.Err = notJSON(r, jsonErr)
	case ok && e.Code == "" && e.Message == "" && e.ErrorCode == "":
		return w, nil
	default:
		e.StatusCode = r.status // an error status, or an error inside a 2xx body
		if jsonErr != nil && e.Message == "" && len(bytes.TrimSpace(r.body)) > 0 {
			e.Err = notJSON(r, jsonErr)
		}
	}
	e.scrubFields()
	return nil, e
}

// scrubFields scrubs and clips every string e took from a server's answer.
func (e *Error) scrubFields() {
	for _, p := range []*string{&e.Code, &e.Description, &e.URI, &e.Message, &e.ErrorCode, &e.MerchantID} {
		if !knownCodes[*p] {
			*p = clip(e.red.scrubPrefix(*p, maxScrubText))
		}
	}
	if e.Err != nil && !errors.Is(e.Err, ErrRedirect) {
		e.Err = e.red.wrap(e.Err)
	}
}

// maxScrubText caps how much of one piece of server text is scrubbed (and
// then clipped to maxText). Scrubbing costs up to the text's length times
// the longest secret's: a 10 MiB header scrubbed of a 1 MiB token from the
// same answer would take minutes.
//
// A secret cut by this window is not recognised: the bytes that could hold
// its fragment are dropped (see redactor.scrubPrefix).
const maxScrubText = 16 * maxText

// clip caps server text at maxText bytes of valid UTF-8.
func clip(s string) string {
	if len(s) > maxText {
		s = s[:maxText] + "..."
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
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
	if _, _, perr := mime.ParseMediaType(ct); perr == nil {
		// The media type as sent: ParseMediaType lowercases it, and a
		// secret lowercased is no longer recognised to scrub.
		ct, _, _ = strings.Cut(ct, ";")
		ct = strings.TrimSpace(ct)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || len(bytes.TrimSpace(r.body)) == 0 {
		// Not clipped: the caller scrubs the text whole, and a clip could
		// cut a secret it holds.
		if len(ct) > maxText {
			return fmt.Errorf("response is not JSON (a %d-byte Content-Type, %d bytes)", len(ct), len(r.body))
		}
		return fmt.Errorf("response is not JSON (Content-Type %q, %d bytes)", ct, len(r.body))
	}
	return fmt.Errorf("response JSON has an unexpected shape: %w", err)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// retryAfter reads a Retry-After header given in seconds or as an HTTP date,
// relative to now. The result is within [0, MaxRetryAfter], whatever v says.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		digits := strings.TrimLeft(v, "0123456789")
		if digits != "" {
			return 0 // "1.5", "10s": not delay-seconds
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n >= int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter // only digits: too many of them
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil || !t.After(now) {
		return 0
	}
	// Compare before subtracting: t.Sub(now) saturates, but a date past
	// the cap needs no arithmetic at all.
	if t.After(now.Add(MaxRetryAfter)) {
		return MaxRetryAfter
	}
	return t.Sub(now)
}

// parseExpiresIn reads expires_in. ok is false when the value gives no usable
// lifetime (missing, empty, null, zero or negative); err is set, with ok
// false, when it is not a number at all. A usable lifetime is within
// [MinLifetime, MaxLifetime].
func parseExpiresIn(f flexString) (d time.Duration, ok bool, err error) {
	s := strings.TrimSpace(f.s)
	if !f.present || s == "" {
		return 0, false, nil
	}
	secs, perr := strconv.ParseFloat(s, 64)
	// A range error is a number too large or too small: saturate it below.
	// A literal "NaN" or "Inf" is not a number of seconds.
	if (perr != nil && !errors.Is(perr, strconv.ErrRange)) || (perr == nil && (math.IsNaN(secs) || math.IsInf(secs, 0))) {
		return 0, false, fmt.Errorf("%w: a %d-byte value that is not a number of seconds", ErrBadExpiresIn, len(s))
	}
	switch {
	case secs <= 0:
		return 0, false, nil
	case secs >= MaxLifetime.Seconds(): // +Inf from a huge value included
		return MaxLifetime, true, nil
	case secs <= MinLifetime.Seconds():
		return MinLifetime, true, nil
	}
	return time.Duration(secs * float64(time.Second)), true, nil
}

// isTokenChar reports whether c is an RFC 7230 tchar.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// headerSafe reports whether s can travel in an Authorization header.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// tokenFromResponse builds a token from a successful token response. sent is
// when the request was sent: expiry counts from then, so that time spent on
// the wire can only make the token look older, never younger.
//
// An answer with an anomaly the token survives (an unusable expires_in or
// token_type, a refresh_token that is not a JSON string) yields the token together with an error saying what was
// wrong: the access token works, and the refresh token in it may be the only
// live one. Callers log that warning; they never return both.
func tokenFromResponse(w *wireBody, sent time.Time, red *redactor) (*oauth2.Token, error) {
	at := w.AccessToken.s
	if w.AccessToken.present && !w.AccessToken.str {
		return nil, &Error{Op: opToken, StatusCode: http.StatusOK, Err: fmt.Errorf("%w: access_token is a JSON number or boolean", ErrBadTokenField), red: red}
	}
	if strings.TrimSpace(at) == "" {
		return nil, &Error{Op: opToken, StatusCode: http.StatusOK, Err: errors.New("response has no access_token"), red: red}
	}
	if !headerSafe(at) {
		return nil, &Error{Op: opToken, StatusCode: http.StatusOK, Err: errors.New("access_token holds control characters and cannot be sent"), red: red}
	}
	var warns []error
	lifetime, ok, expErr := parseExpiresIn(w.ExpiresIn)
	if !ok {
		lifetime = FallbackLifetime
	}
	if expErr != nil {
		warns = append(warns, expErr)
	}
	tt := w.TokenType.s
	if !w.TokenType.isString() {
		tt = "" // a number or a boolean is no token type: absent
	}
	if !isToken(tt) {
		warns = append(warns, fmt.Errorf("%w: %d bytes, some not RFC 7230 token characters; using \"bearer\"", ErrBadTokenType, len(tt)))
		tt = "bearer"
	}
	rt := w.RefreshToken.s
	if w.RefreshToken.present && !w.RefreshToken.str {
		// false, 0: never a token. Absent, so that the stored one is kept.
		warns = append(warns, fmt.Errorf("%w: refresh_token is a JSON number or boolean; keeping the stored refresh token", ErrBadTokenField))
		rt = ""
	}
	if strings.TrimSpace(rt) == "" {
		rt = "" // blank is absent: it must never replace a stored one
	}
	tok := &oauth2.Token{
		AccessToken:  at,
		TokenType:    tt,
		RefreshToken: rt,
		Expiry:       sent.Add(lifetime),
		ExpiresIn:    int64(lifetime / time.Second),
	}
	if w.Scope.isString() && w.Scope.s != "" {
		// Kept, stored and logged: never with a secret of the call in it
		// (the client secret, the refresh token sent, a token of the
		// answer), which a server echoing the request would put there. A
		// scope longer than maxScrubText (no real one is) is cut there,
		// so that scrubbing stays cheap.
		tok = tok.WithExtra(map[string]any{"scope": red.scrubPrefix(w.Scope.s, maxScrubText)})
	}
	if len(warns) > 0 {
		return tok, &Error{Op: opToken, StatusCode: http.StatusOK, Err: errors.Join(warns...), red: red}
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

// formSecrets are the form fields that carry a secret.
var formSecrets = []string{"refresh_token", "code", "device_code", "code_verifier", "client_assertion", "token"}

// retrieveToken posts a token request and parses the answer. A token may
// come with an error: a warning about an anomaly it survived (see
// tokenFromResponse). secrets are scrubbed from every error, with the
// client secret, the simple key, the form's secrets and every token in the
// answer.
func retrieveToken(ctx context.Context, cfg *oauth2.Config, form url.Values, simpleKey string, now clock, secrets ...string) (*oauth2.Token, error) {
	if now == nil {
		now = time.Now
	}
	red := newRedactor(secrets...)
	for _, k := range formSecrets {
		red.add(form[k]...)
	}
	sent := now()
	r, err := postForm(ctx, opToken, cfg, cfg.Endpoint.TokenURL, form, wireCall{simpleKey: simpleKey, red: red})
	if err != nil {
		return nil, err
	}
	w, err := decode(opToken, r, red, now())
	if err != nil {
		return nil, err
	}
	return tokenFromResponse(w, sent, red)
}

// settle returns a token or an error, never both: a warning that came with
// a token is logged to the context's logger (see [LoggerContext]).
func settle(ctx context.Context, tok *oauth2.Token, err error) (*oauth2.Token, error) {
	switch {
	case tok == nil:
		return nil, err
	case err != nil:
		loggerFrom(ctx).WarnContext(ctx, "ucoauth: token accepted despite an anomaly in UltraCart's answer",
			"token", LogToken(tok), "err", err)
	}
	return tok, nil
}

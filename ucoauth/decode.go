package ucoauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ucoauth/go-ucoauth/internal/redact"
)

// This file reads what an OAuth server answered: the tolerant JSON decoder,
// the error fields, Retry-After and expires_in. It sends nothing; request.go
// and token.go build on it.

const (
	// MaxRetryAfter caps a Retry-After header, given in seconds or as a
	// date: UltraCart's rate limit window is an hour, so no answer can park
	// a merchant longer, and no value can overflow into the past.
	MaxRetryAfter = time.Hour

	// MinLifetime is the shortest lifetime a token is given: a positive
	// expires_in below it ("0.001", "1e-300") is raised to it. With the early
	// refresh window capped at half the lifetime, a TokenSource then
	// refreshes at most once a second (one minimum backoff step), whatever
	// the server says, instead of once per Token call.
	MinLifetime = 2 * time.Second

	// MaxLifetime caps an absurdly large expires_in, so that no token is
	// trusted for longer than a day without a refresh.
	MaxLifetime = 24 * time.Hour
)

// response is what an OAuth endpoint answered, read and capped.
type response struct {
	status int
	header http.Header
	body   []byte
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

// parseBody decodes a JSON object through exact keys. Every string under a
// key that names a token (access_token, refresh_token, id_token, ACCESS_TOKEN,
// device_code...: see secretKey) is added to red, even when the parse then
// fails, so that no error can quote it: top-level strings first, then
// strings nested in arrays or objects under those keys, at most
// redact.MaxAnswerSecrets of them. Strings under any other key are not secrets.
// The cost is linear in the size of body.
//
// A key given twice with different values makes the whole answer ambiguous
// and is refused: guessing which refresh token is the live one could store
// the dead one.
func parseBody(body []byte, red *redactor) (*wireBody, error) {
	var secretVals []json.RawMessage
	defer func() { red.add(redact.AnswerSecrets(secretVals)...) }()

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
		if redact.SecretKey(k) {
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
	e.Message = r.header.Get(headerRESTError)
	e.MerchantID = r.header.Get(headerRESTErrorMerchantID)
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

// revokeAnswer reads a revoke endpoint's answer, received at now: nil when
// it says the token was revoked, an *Error scrubbed of red's secrets
// otherwise.
func revokeAnswer(r *response, red *redactor, now time.Time) error {
	if r.status >= 200 && r.status < 300 {
		if _, perr := parseBody(r.body, newRedactor()); perr != nil {
			if refusal := revokeRefusal(r.body); refusal != "" {
				e := &Error{Op: opRevoke, StatusCode: r.status, red: red,
					Err: fmt.Errorf("the answer does not parse cleanly but %s", refusal)}
				e.scrubFields()
				return e
			}
			return nil // RFC 7009: a 2xx revokes, whatever the body
		}
	}
	w, err := decode(opRevoke, r, red, now)
	if err != nil {
		return err
	}
	if w.Successful.present && w.Successful.s != "true" {
		e := &Error{Op: opRevoke, StatusCode: r.status, Message: w.Message.s, red: red,
			Err: errors.New(`UltraCart answered {"successful": false}`)}
		e.scrubFields()
		return e
	}
	return nil
}

// revokeRefusal reads a 2xx revoke body that parseBody refused (a field of
// the wrong shape, trailing bytes, a duplicated key) as far as it goes, and
// says why it is not a success: a top-level "successful" that is not true,
// or an "error" that is not null or empty. "" means nothing in it refuses,
// so RFC 7009's "any 2xx revokes" applies. It never quotes the body.
func revokeRefusal(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return ""
		}
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			return ""
		}
		switch k, _ := kt.(string); k {
		case "successful":
			if s := string(bytes.TrimSpace(v)); s != "true" && s != `"true"` {
				return `"successful" is not true`
			}
		case "error":
			if s := string(bytes.TrimSpace(v)); s != "null" && s != `""` {
				return `it carries an "error"`
			}
		}
	}
	return ""
}

// tokenGone reports whether a revoke failed because the token was already
// invalid, so that there is nothing left to revoke: only the OAuth codes
// invalid_token and invalid_grant say so, as the RFC 6749 code or UltraCart's
// error_code. A 401 without them may be a refused client, a 404 or 405 a
// wrong URL, and a 410 a disabled application whose grants may come back:
// none of them says the token is dead.
func tokenGone(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range []string{e.Code, e.ErrorCode} {
		if c == "invalid_token" || c == "invalid_grant" {
			return true
		}
	}
	return false
}

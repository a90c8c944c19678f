package square

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// Class is what a failure asks of the application.
type Class int

const (
	// Temporary failures (network, 5xx, 429 rate limits) pass: retry later,
	// after RetryAfter when Square gave one, keeping every token.
	Temporary Class = iota
	// Reconnect means the merchant's grant is dead (revoked, expired PKCE
	// refresh token, insufficient scopes): the merchant has to go through
	// the authorize page again.
	Reconnect
	// Misconfigured means Square refused the application itself (client ID
	// or secret, a malformed request): every merchant fails until the
	// configuration is fixed, so the merchants' tokens are kept.
	Misconfigured
)

// String names the class.
func (c Class) String() string {
	switch c {
	case Temporary:
		return "temporary"
	case Reconnect:
		return "reconnect"
	case Misconfigured:
		return "misconfigured"
	}
	return "Class(" + strconv.Itoa(int(c)) + ")"
}

// APIError is one entry of Square's {"errors":[...]} body.
type APIError struct {
	Category string `json:"category"`
	Code     string `json:"code"`
	Detail   string `json:"detail,omitempty"`
	Field    string `json:"field,omitempty"`
}

// Error is a failed call to one of Square's OAuth endpoints. It carries what
// Square said, scrubbed of the call's secrets, and never what was sent.
//
// errors.Is matches [ucoauth.ErrReauthorizationRequired] for [Reconnect]
// and [ucoauth.ErrInvalidClient] for [Misconfigured], so the engine's
// classes apply unchanged.
type Error struct {
	// Op names the call: "token", "revoke" or "status".
	Op string
	// StatusCode is the HTTP status, or 0 when no answer arrived.
	StatusCode int
	// Errors is Square's error list (a legacy {"message","type"} body is
	// read as one entry with Code=type, Detail=message).
	Errors []APIError
	// Class is what the failure asks of the application.
	Class Class
	// RetryAfter is the Retry-After of a 429 or 503, or 0 when absent.
	RetryAfter time.Duration
	// Err is the underlying cause (network, decoding), if any.
	Err error

	scrub *scrubber
}

// Error describes the failure by what Square said.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("square: " + e.Op)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	for i, a := range e.Errors {
		if i == 3 {
			fmt.Fprintf(&b, " (+%d more)", len(e.Errors)-i)
			break
		}
		fmt.Fprintf(&b, ": %s/%s", word(a.Category), word(a.Code))
		if a.Detail != "" {
			fmt.Fprintf(&b, " %q", cut(a.Detail))
		}
	}
	fmt.Fprintf(&b, " (%s", e.Class)
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.RetryAfter)
	}
	b.WriteString(")")
	if e.Err != nil {
		// Scrubbed before the cut: a cut through a secret would leave its
		// head, which no longer matches, in clear.
		b.WriteString(": " + cut(e.scrub.scrub(e.Err.Error())))
	}
	return e.scrub.scrub(b.String())
}

// cut bounds server text in an error message.
func cut(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// Format prints Error for every verb, %+v and %#v included.
func (e *Error) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(e.Error())) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is maps the class onto the engine's sentinels.
func (e *Error) Is(target error) bool {
	switch target {
	case ucoauth.ErrReauthorizationRequired:
		return e.Class == Reconnect
	case ucoauth.ErrInvalidClient:
		return e.Class == Misconfigured
	}
	return false
}

// Temporary reports a failure worth retrying.
func (e *Error) Temporary() bool { return e.Class == Temporary }

// HasCode reports whether Square gave the error code.
func (e *Error) HasCode(code string) bool {
	for _, a := range e.Errors {
		if a.Code == code {
			return true
		}
	}
	return false
}

// DecodeError reads a failed answer of op ("token", "revoke", "status"). h
// may be nil. secrets are the call's secrets, scrubbed from the message.
func DecodeError(op string, status int, h http.Header, body []byte, secrets ...string) *Error {
	return decodeErrorAt(op, status, h, body, time.Now(), secrets...)
}

// decodeErrorAt is DecodeError with the answer's arrival time, from which a
// Retry-After date counts.
func decodeErrorAt(op string, status int, h http.Header, body []byte, now time.Time, secrets ...string) *Error {
	e := &Error{Op: op, StatusCode: status, scrub: newScrubber(secrets...)}
	var w struct {
		Errors  []APIError      `json:"errors"`
		Message json.RawMessage `json:"message"`
		Type    json.RawMessage `json:"type"`
	}
	if json.Unmarshal(body, &w) == nil {
		e.Errors = w.Errors
		if len(e.Errors) == 0 {
			msg, _ := str(w.Message)
			typ, _ := str(w.Type)
			if msg != "" || typ != "" {
				e.Errors = []APIError{{Code: typ, Detail: msg}}
			}
		}
	}
	if len(e.Errors) > 16 { // a hostile list is not kept whole
		e.Errors = e.Errors[:16]
	}
	// Scrubbed here, before any quoting or cutting could split or re-encode
	// an echoed secret, so that no field of the Error holds one.
	for i, a := range e.Errors {
		e.Errors[i] = APIError{Category: e.scrub.scrub(a.Category), Code: e.scrub.scrub(a.Code),
			Detail: e.scrub.scrub(a.Detail), Field: e.scrub.scrub(a.Field)}
	}
	if h != nil {
		e.RetryAfter = retryAfter(h.Get("Retry-After"), now)
	}
	e.Class = classify(op, status, e.Errors)
	return e
}

// retryAfter reads Retry-After as seconds or an HTTP date; bounded to a day.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		d = time.Duration(min(n, 86400)) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, 24*time.Hour))
}

// Codes that decide a class whatever the status.
var (
	temporaryCodes = map[string]bool{
		"RATE_LIMITED": true, "INTERNAL_SERVER_ERROR": true, "SERVICE_UNAVAILABLE": true,
		"GATEWAY_TIMEOUT": true, "REQUEST_TIMEOUT": true,
	}
	reconnectCodes = map[string]bool{
		"ACCESS_TOKEN_EXPIRED": true, "ACCESS_TOKEN_REVOKED": true, "INSUFFICIENT_SCOPES": true,
		"REFRESH_TOKEN_EXPIRED": true, "REFRESH_TOKEN_REVOKED": true,
	}
	misconfiguredCodes = map[string]bool{
		"CLIENT_DISABLED": true, "APPLICATION_DISABLED": true, "INVALID_CLIENT": true,
		"UNSUPPORTED_GRANT_TYPE": true,
	}
)

// classify maps an answer to a Class. Specific codes win; then the status:
// 429 and 5xx pass; a 401 from revoke is the Authorization: Client header
// refused (the secret), from status the bearer token refused; a 401 from
// the token endpoint is the grant unless Square's detail names the client;
// other 4xx are the application's request.
func classify(op string, status int, errs []APIError) Class {
	for _, a := range errs {
		switch {
		case temporaryCodes[a.Code] || a.Category == "RATE_LIMIT_ERROR":
			return Temporary
		case misconfiguredCodes[a.Code]:
			return Misconfigured
		case reconnectCodes[a.Code]:
			return Reconnect
		}
	}
	switch {
	case status == 0 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		return Temporary
	case status == http.StatusUnauthorized && op == "revoke":
		return Misconfigured
	case status == http.StatusUnauthorized && op == "status":
		return Reconnect
	case status == http.StatusUnauthorized:
		if namesClient(errs) {
			return Misconfigured
		}
		return Reconnect
	}
	return Misconfigured
}

// namesClient reports an authentication error about the application rather
// than the merchant's grant ("Invalid client_secret", "client_id not found").
func namesClient(errs []APIError) bool {
	for _, a := range errs {
		d := strings.ToLower(a.Detail + " " + a.Field)
		if strings.Contains(d, "client_secret") || strings.Contains(d, "client_id") ||
			strings.Contains(d, "application") || strings.Contains(d, "client secret") {
			return true
		}
	}
	return false
}

// errNetwork wraps a transport failure as a Temporary *Error; its text is
// scrubbed by Error, and it still unwraps to the cause (context.Canceled...).
func errNetwork(op string, err error, s *scrubber) *Error {
	return &Error{Op: op, Class: Temporary, Err: err, scrub: s}
}

package ucoauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The calls an [Error] names in its Op.
const (
	opToken     = "token"
	opRevoke    = "revoke"
	opDeviceReq = "device authorize"
)

// Sentinel errors, for use with [errors.Is].
var (
	// ErrTokenNotFound is returned by a TokenStore's Load when it holds no
	// token for the key, and by a TokenSource whose merchant never connected.
	ErrTokenNotFound = errors.New("ucoauth: token not found")

	// ErrReauthorizationRequired means the merchant's grant is dead: UltraCart
	// answered invalid_grant or 410 (application disabled), or there is no
	// refresh token left to use. Retrying cannot help; the merchant has to
	// connect again.
	ErrReauthorizationRequired = errors.New("ucoauth: reauthorization required")

	// ErrInvalidClient means UltraCart refused the application itself, not
	// the merchant's grant: invalid_client or unauthorized_client, or a 401
	// from the token or device authorization endpoint with no other code
	// (RFC 6749 section 5.2). The
	// client ID or secret is wrong, for every merchant at once. It is not
	// temporary, but the merchant's refresh token is kept for when the
	// configuration is fixed.
	ErrInvalidClient = errors.New("ucoauth: the application's client credentials were refused")

	// ErrSuperseded is returned by a TokenStore's Save when the store already
	// holds a token that expires later, so that a refresh finishing late never
	// overwrites a fresher token another process saved.
	ErrSuperseded = errors.New("ucoauth: a newer token is already stored")

	// ErrInsecureEndpoint is returned for a plain-http URL whose host is not a
	// loopback address: tokens and secrets would cross the network in clear.
	ErrInsecureEndpoint = errors.New("ucoauth: refusing plain-http endpoint that is not loopback")

	// ErrBadExpiresIn means expires_in could not be read as a number of
	// seconds. The token is kept, with [FallbackLifetime]: [Exchange] and
	// [DeviceAccessToken] log the anomaly (see [WithLogger]) rather than
	// return it with the token; a TokenSource reports it to its logger and in
	// [RefreshEvent].Err.
	ErrBadExpiresIn = errors.New("ucoauth: unusable expires_in")

	// ErrBadTokenType means token_type held bytes that are not RFC 7230
	// token characters (CR, LF, spaces...). Such a value could split a
	// header, so it is never stored or served: the token is kept, because
	// the refresh token in it may be the only live one, with token_type
	// "bearer", the only value UltraCart documents.
	ErrBadTokenType = errors.New("ucoauth: unusable token_type")

	// ErrBadTokenField means the answer's refresh_token was not a JSON
	// string (false, 0, true...). A number or a boolean can never be a
	// token: it is treated as absent, so the stored refresh token is kept,
	// and reported like ErrBadExpiresIn (Exchange logs it, a TokenSource
	// reports it in RefreshEvent.Err). An access_token that is not a JSON
	// string makes the whole answer unusable: that is an *Error, and nothing
	// is stored.
	ErrBadTokenField = errors.New("ucoauth: token field is not a JSON string")

	// ErrRedirect means an OAuth endpoint answered with a redirect. It is
	// never followed: the form carries the client secret and a refresh token
	// or code, which must reach only the configured URL. An answer that the
	// caller's own Transport reached by following a redirect is refused the
	// same way: nothing from it is stored or believed.
	ErrRedirect = errors.New("ucoauth: the endpoint answered with a redirect, which is never followed")
)

// Error is a failed call to one of UltraCart's OAuth endpoints. It carries
// what UltraCart said and never the tokens or secrets that were sent.
//
// Error wraps [ErrReauthorizationRequired] when the grant is dead,
// [ErrInvalidClient] when the application's credentials were refused, and the
// underlying network or parse error, if any.
type Error struct {
	// Op names the call: "token", "revoke" or "device authorize".
	Op string
	// StatusCode is the HTTP status, or 0 when no response arrived.
	StatusCode int
	// Code, Description and URI are the RFC 6749 error fields.
	Code        string
	Description string
	URI         string
	// Message is UltraCart's human-readable message: the UC-REST-ERROR header,
	// or the ErrorResponse body's developer_message or user_message.
	Message string
	// ErrorCode is the ErrorResponse body's error_code.
	ErrorCode string
	// MerchantID is the UC-REST-ERROR-MERCHANT-ID header, when present.
	MerchantID string
	// RetryAfter is the Retry-After header of a 429 or 503, or 0.
	RetryAfter time.Duration
	// Err is the underlying cause: a network, timeout or decoding error.
	// Its text is scrubbed; it still unwraps to the original cause.
	Err error

	red *redactor // the call's secrets, scrubbed from Error() once more
}

// Error describes the failure with what UltraCart said, never with what was
// sent to it.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(msgPrefix)
	b.WriteString(e.Op)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
		if t := http.StatusText(e.StatusCode); t != "" {
			b.WriteString(" " + t)
		}
	}
	if e.Code != "" {
		b.WriteString(": " + word(e.Code))
	}
	if e.Description != "" {
		fmt.Fprintf(&b, ": %q", e.Description)
	}
	// UltraCart puts one text in UC-REST-ERROR and error_description: it
	// reads once.
	if e.Message != "" && strings.TrimSpace(e.Message) != strings.TrimSpace(e.Description) {
		fmt.Fprintf(&b, ": UltraCart says %q", e.Message)
	}
	if e.ErrorCode != "" {
		fmt.Fprintf(&b, " (error_code %s)", word(e.ErrorCode))
	}
	if e.MerchantID != "" {
		fmt.Fprintf(&b, " (merchant %s)", word(e.MerchantID))
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.Err != nil {
		b.WriteString(": " + causeText(e.Err))
	}
	return e.red.scrub(b.String())
}

// word returns a server's code as it is when it is one RFC 7230 token, and
// Go-quoted otherwise, so that no server text can end a log line early or
// forge another one.
func word(s string) string {
	if isToken(s) {
		return s
	}
	return strconv.Quote(s)
}

// Format prints [Error.Error] under every verb (%q quotes it, %x hex-encodes
// it), so that %#v or %d never reach the fields of a wrapped cause.
func (e *Error) Format(f fmt.State, verb rune) { formatText(f, verb, e.Error()) }

// Unwrap returns the cause and, for a dead grant, ErrReauthorizationRequired,
// or for refused client credentials, ErrInvalidClient.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	switch {
	case e.invalidClient():
		errs = append(errs, ErrInvalidClient)
	case e.reauth():
		errs = append(errs, ErrReauthorizationRequired)
	}
	return errs
}

// invalidClient reports a refusal of the application, not of the grant. A
// 401 from the token endpoint, or from the device authorization endpoint
// that answers the same way (RFC 8628 section 3.2), means failed client
// authentication unless the server says otherwise (RFC 6749 section 5.2).
func (e *Error) invalidClient() bool {
	switch e.Code {
	case "invalid_client", "unauthorized_client":
		return true
	case "":
		return (e.Op == opToken || e.Op == opDeviceReq) && e.StatusCode == http.StatusUnauthorized
	}
	return false
}

func (e *Error) reauth() bool {
	return e.Code == "invalid_grant" || e.StatusCode == http.StatusGone
}

// Temporary reports whether trying again later may succeed: network errors
// and timeouts, 5xx, 408 and 429.
func (e *Error) Temporary() bool {
	switch {
	case e.StatusCode >= 500, e.StatusCode == http.StatusRequestTimeout, e.StatusCode == http.StatusTooManyRequests:
		return true
	case e.StatusCode != 0:
		return false
	}
	var ne net.Error
	return errors.As(e.Err, &ne) || errors.Is(e.Err, context.DeadlineExceeded)
}

// StoreError is a TokenStore that failed: an outage, a corrupt record or a
// refused lock. The TokenSource keeps serving a still-valid token through it.
type StoreError struct {
	Op  string // "load", "save", "delete" or "lock"
	Key string // the store key of the merchant
	Err error  // the store's error
}

// Error names the operation, the key and the cause.
func (e *StoreError) Error() string {
	return fmt.Sprintf("ucoauth: token store %s %q: %s", e.Op, e.Key, causeText(e.Err))
}

// causeText is err's text as the tail of one of this package's messages:
// without the "ucoauth: " its own sentinels start with (at the start of each
// line of an errors.Join), so that a message carries the prefix once.
func causeText(err error) string {
	if err == nil {
		return "<nil>"
	}
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, msgPrefix)
	}
	return strings.Join(lines, "\n")
}

// msgPrefix starts every message of this package, once.
const msgPrefix = "ucoauth: "

// Unwrap returns the store's own error.
func (e *StoreError) Unwrap() error { return e.Err }

// Temporary reports whether the store may work if tried again. Network
// errors are outages, whatever net.Error's deprecated Temporary says
// ("connection refused" says false); a missing token is not temporary, and
// nor is an error that says so itself (tokenstore.ErrCorrupt). Anything
// else is assumed to be an outage.
func (e *StoreError) Temporary() bool {
	if errors.Is(e.Err, ErrTokenNotFound) {
		return false
	}
	var ne net.Error
	if errors.As(e.Err, &ne) {
		return true
	}
	var t interface{ Temporary() bool }
	if errors.As(e.Err, &t) {
		return t.Temporary()
	}
	return true
}

// temporary reports whether err says it is temporary.
func temporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
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

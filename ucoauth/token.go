package ucoauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// This file turns a decoded token answer into an *oauth2.Token, with the
// tolerance UltraCart needs (see decode.go for the reading).

// FallbackLifetime is the lifetime given to a token whose expires_in is
// missing, empty, null, zero, negative or unreadable. UltraCart does not
// document token lifetimes; the one figure it publishes elsewhere is 60
// minutes. A quarter of that keeps a token with an unknown lifetime
// refreshing (never living forever) without spending the rate limit.
const FallbackLifetime = 15 * time.Minute

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

// withScope returns t carrying scope, or t itself when scope is empty.
func withScope(t *oauth2.Token, scope string) *oauth2.Token {
	if scope == "" {
		return t
	}
	return t.WithExtra(map[string]any{"scope": scope})
}

// clock lets the TokenSource and the wire share one notion of now.
type clock func() time.Time

// settle returns a token or an error, never both: a warning that came with
// a token is logged to l (see [WithLogger]).
func settle(ctx context.Context, l *slog.Logger, tok *oauth2.Token, err error) (*oauth2.Token, error) {
	switch {
	case tok == nil:
		return nil, err
	case err != nil:
		l.WarnContext(ctx, "ucoauth: token accepted despite an anomaly in the server's answer",
			"token", LogToken(tok), "err", err)
	}
	return tok, nil
}

package ucoauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// ErrTokenRefused is matched (with [errors.Is]) by a [*RefusedError]: the
// API refused a fresh token.
var ErrTokenRefused = errors.New("ucoauth: the API refused a fresh token")

// RefusedError is what [Transport] returns, instead of the API's 401, for a
// request the API refused with a fresh token: one that a refusal had
// refreshed moments ago, so that the pace of refreshes forced by refusals
// (see [Transport]) holds the next one back, and no newer
// token is stored. The 401 is then the API's word on this request (a
// resource outside the grant's scope, say), not on the token, and only
// this request fails: the token stays in service for every other one.
//
// Until Retry, the same request (method and path, for the 16 requests
// refused last) with the same token is not even sent: the Transport
// returns this error at once. A 401 the API sent by mistake on a path
// therefore fails that path until Retry (up to the maximum backoff). From Retry on,
// the next such request replaces the token once more, in case the API
// revoked this one too.
type RefusedError struct {
	Key    string    // the merchant's key
	Method string    // the request's method
	Path   string    // the request's path, without its query
	Retry  time.Time // from then on a refusal may force another refresh
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("ucoauth: the API refused the fresh token of %q for %s %s (401): the grant may not cover it, or the API refuses the merchant; other requests keep the token, and a refusal after %s refreshes it again",
		e.Key, e.Method, e.Path, e.Retry.UTC().Format(time.RFC3339))
}

// Unwrap returns [ErrTokenRefused].
func (e *RefusedError) Unwrap() error { return ErrTokenRefused }

// requestKey names a request for the refusals a source remembers: its
// method and path. The query is left out: it selects within a resource,
// which the grant's scope covers or not as a whole.
func requestKey(req *http.Request) string { return req.Method + " " + req.URL.EscapedPath() }

// refuser is a source that takes the API's refusals request by request,
// as *TokenSource does.
type refuser interface {
	invalidate(tok *oauth2.Token) bool
	refusedFor(tok *oauth2.Token, req *http.Request) bool
	hold(tok *oauth2.Token, on string) *RefusedError
}

// hold returns the error for a request (on, its method and path) that the
// API refused with tok while the pace of forced refreshes holds the next
// one back, and remembers it, so that the same request is not sent with
// tok again before the pace allows (see refusedFor). It returns nil when
// tok is not the token served or the pace holds nothing back.
func (s *TokenSource) hold(tok *oauth2.Token, on string) *RefusedError {
	now := s.nowNanos()
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cur.Load()
	if cur == nil || cur.tok.AccessToken != tok.AccessToken || cur.rejected() {
		return nil
	}
	until, held := s.pol().paceHolds(now)
	if !held {
		return nil
	}
	s.apply(event{kind: evRefusedOn, tok: tok.AccessToken, on: on}, now)
	method, path, _ := strings.Cut(on, " ")
	return &RefusedError{Key: s.key, Method: method, Path: path, Retry: time.Unix(0, until)}
}

// refusedFor reports whether the API refused tok, the token served, for
// req's method and path while the pace held its refresh back (see hold).
// It is cheap when it did not: one atomic load and a compare, no
// allocation.
func (s *TokenSource) refusedFor(tok *oauth2.Token, req *http.Request) bool {
	h := s.h.Load()
	if h == nil || h.refused == nil || h.refused.tok != tok.AccessToken {
		return false
	}
	return h.refusedWith(tok.AccessToken, requestKey(req))
}

// invalidate tells the source that UltraCart's API refused tok (it answered
// 401). If tok is still the token the source serves, the source stops
// serving it, even though its expiry says it is valid and even if the store
// still holds it, and the next caller refreshes; invalidate reports whether
// it did so. A token that was already replaced is left alone, so that many
// callers refused the same token cause one refresh. The refresh token is
// kept. A token another process saved meanwhile is adopted at no cost; token
// requests that refusals force are paced (see [TokenSource.Status]): within
// a minute of the last one, the next waits one backoff step, doubling, so
// that an API refusing tokens, or some requests, causes no storm. When the
// pace holds that request back and no newer token is stored, the refused
// token goes back into service (see [RefusedError]): an API that refuses a
// fresh token on one path and accepts it on another must not take the
// merchant offline. [Transport] calls it.
func (s *TokenSource) invalidate(tok *oauth2.Token) bool {
	if tok == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cur.Load()
	if cur == nil || cur.tok.AccessToken != tok.AccessToken {
		return false
	}
	if cur.rejected() {
		return true // already invalidated
	}
	s.cur.Store(rejectedState(cur.tok))
	h := s.apply(event{kind: evRejected, tok: tok.AccessToken}, 0)
	s.o.logger.Log(context.Background(), h.refusalLevel(tok.AccessToken), "ucoauth: the API refused the token; refreshing it", "key", s.key, "token", LogToken(tok))
	return true
}

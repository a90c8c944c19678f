package ucoauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
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

// maxRefusedRequests bounds the requests a source remembers as refused
// with its current token.
const maxRefusedRequests = 16

// requestKey names a request for the refusals a source remembers: its
// method and path. The query is left out: it selects within a resource,
// which the grant's scope covers or not as a whole.
func requestKey(req *http.Request) string { return req.Method + " " + req.URL.EscapedPath() }

// refuser is a source that takes the API's refusals request by request,
// as *TokenSource does.
type refuser interface {
	invalidator
	refusedFor(tok *oauth2.Token, req *http.Request) bool
	hold(tok *oauth2.Token, on string) *RefusedError
}

// heldBack ends a refresh that a refusal forced and the pace held back
// (refresh returned no state and an *apiRefusedError) with no newer token
// stored: the refused token goes back into service, with no error and no
// backoff, so that every other caller, and the flight's waiters, get it.
// The refused caller sees the same token again and learns why from hold.
// A token too close to its expiry to serve stays out, with the error.
func (s *TokenSource) heldBack(st *state, err error) (*state, error) {
	var pace *apiRefusedError
	if st != nil || !errors.As(err, &pace) {
		return st, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cur.Load()
	if cur == nil || cur.expire != math.MinInt64 {
		return st, err
	}
	now := s.o.now()
	back := s.newState(cur.tok, now)
	if !back.validAt(now) {
		return st, err
	}
	if h := s.h.Load(); h != nil && h.rejected == cur.tok.AccessToken {
		s.update(func(h *health) { h.rejected = "" })
	}
	level := slog.LevelInfo
	if refusalLevel(s.h.Load(), cur.tok) == slog.LevelDebug {
		level = slog.LevelDebug // said once for this token already
	}
	s.o.logger.Log(context.Background(), level, "ucoauth: the API refused a fresh token; refreshes forced by refusals are paced, so it stays in service", "key", s.key, "token", LogToken(cur.tok))
	return back, nil
}

// refusalLevel is the level at which to log a refusal of tok: Warn, but
// Debug once tok was held back in service after a refusal (see hold), so
// that requests refused one after another (a resource ID per request
// outside the grant's scope) log it once, not once each.
func refusalLevel(h *health, tok *oauth2.Token) slog.Level {
	if h != nil && h.refusedTok != "" && h.refusedTok == tok.AccessToken {
		return slog.LevelDebug
	}
	return slog.LevelWarn
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
	cur, h := s.cur.Load(), s.h.Load()
	if cur == nil || cur.tok.AccessToken != tok.AccessToken || cur.expire == math.MinInt64 {
		return nil
	}
	until, held := h.paceHolds(now)
	if !held {
		return nil
	}
	s.update(func(h *health) {
		if h.refusedTok != tok.AccessToken {
			h.refusedTok, h.refusedOn = tok.AccessToken, nil
		}
		if slices.Contains(h.refusedOn, on) {
			return
		}
		// A new slice: a published record is never modified.
		keep := h.refusedOn[max(0, len(h.refusedOn)-(maxRefusedRequests-1)):]
		h.refusedOn = append(slices.Clone(keep), on)
	})
	method, path, _ := strings.Cut(on, " ")
	return &RefusedError{Key: s.key, Method: method, Path: path, Retry: time.Unix(0, until)}
}

// refusedFor reports whether the API refused tok, the token served, for
// req's method and path while the pace held its refresh back (see hold).
// It is cheap when it did not: one atomic load and a compare, no
// allocation.
func (s *TokenSource) refusedFor(tok *oauth2.Token, req *http.Request) bool {
	h := s.h.Load()
	if h == nil || h.refusedTok == "" || h.refusedTok != tok.AccessToken {
		return false
	}
	return slices.Contains(h.refusedOn, requestKey(req))
}

// pacedBeforeLock is the error paceForced would return now, decided
// before the store's lock is taken: while the pace holds, a refused request
// (one per path, or per resource ID, outside the grant's scope) costs one
// store read, to adopt a newer stored token, and no lock. paceForced
// decides again under the lock.
func (s *TokenSource) pacedBeforeLock() error {
	h := s.h.Load()
	if until, held := h.paceHolds(s.nowNanos()); held {
		return &apiRefusedError{key: s.key, n: h.forced, until: until}
	}
	return nil
}

// paceHolds reports whether a token request forced by an API refusal must
// wait at now, and until when (see paceForced, which decides the same).
func (h *health) paceHolds(now int64) (until int64, held bool) {
	if h == nil || h.forcedAt == 0 || now >= satAdd(h.forcedOK, int64(rejectStreak)) {
		return 0, false
	}
	if now < h.forcedOK && !steppedBack(now, h.forcedAt, satAdd(h.forcedOK, -h.forcedAt)) {
		return h.forcedOK, true
	}
	return 0, false
}

func (k keySource) refusedFor(tok *oauth2.Token, req *http.Request) bool {
	return k.m.Source(k.key).refusedFor(tok, req)
}

func (k keySource) hold(tok *oauth2.Token, on string) *RefusedError {
	return k.m.Source(k.key).hold(tok, on)
}

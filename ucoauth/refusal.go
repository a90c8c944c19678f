package ucoauth

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// ErrTokenRefused is matched (with [errors.Is]) by a [*RefusedError]: the
// API refused a token that is fresh, because an earlier refusal already had
// it refreshed.
var ErrTokenRefused = errors.New("ucoauth: the API refused a fresh token")

// RefusedError is what [Transport] returns, instead of the API's 401, for a
// request the API refused with a fresh token: one that a refusal had
// refreshed moments ago, so that the pace of refreshes forced by refusals
// (see [TokenSource.Invalidate]) holds the next one back. The 401 is then
// the API's word on this request (a resource outside the grant's scope,
// say), not on the token, and only this request fails: the token stays in
// service for every other one.
//
// Until Retry, the same request (method and path) with the same token is
// not even sent: the Transport returns this error at once. From Retry on,
// the next refusal, or the next such request, replaces the token once more,
// in case the API revoked this one too.
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

// refusal is what a 401 did to the token that got it.
type refusal int

const (
	// refusedStale: the token was no longer the one served; ask again.
	refusedStale refusal = iota
	// refusedReplaced: the token is no longer served; the next caller
	// gets the token a forced refresh brings.
	refusedReplaced
	// refusedHeld: the pace holds the forced refresh back; the token is
	// still served, and the refusal goes back to its request alone.
	refusedHeld
)

// maxRefusedRequests bounds the requests a source remembers as refused
// with its current token.
const maxRefusedRequests = 16

// requestKey names a request for the refusals a source remembers: its
// method and path. The query is left out: it selects within a resource,
// which the grant's scope covers or not as a whole.
func requestKey(req *http.Request) string { return req.Method + " " + req.URL.EscapedPath() }

// refuse tells the source that the API answered 401 to the request on,
// sent with tok. If tok is still served and the pace of forced refreshes
// allows one now, tok is no longer served and the next caller refreshes.
// If the pace holds it back, tok stays in service for everyone else and
// the refusal is remembered for on, so that the same request with the same
// token is not sent again before the pace allows (see refusedFor); the
// error to return is then a *RefusedError.
func (s *TokenSource) refuse(tok *oauth2.Token, on string) (refusal, error) {
	if tok == nil {
		return refusedStale, nil
	}
	now := s.nowNanos()
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cur.Load()
	if cur == nil || cur.tok.AccessToken != tok.AccessToken {
		return refusedStale, nil
	}
	if cur.expire == math.MinInt64 {
		return refusedReplaced, nil // already invalidated
	}
	h := s.h.Load()
	if until, held := h.paceHolds(now); held {
		err := &RefusedError{Key: s.key, Method: methodOf(on), Path: pathOf(on), Retry: time.Unix(0, until)}
		if on == "" {
			return refusedHeld, err // Invalidate: no request to remember
		}
		s.update(func(h *health) {
			if h.refusedTok != tok.AccessToken {
				h.refusedTok, h.refusedOn = tok.AccessToken, nil
			}
			for _, r := range h.refusedOn {
				if r == on {
					return
				}
			}
			// A new slice: the published record is never modified.
			keep := h.refusedOn[max(0, len(h.refusedOn)-(maxRefusedRequests-1)):]
			h.refusedOn = append(append(make([]string, 0, len(keep)+1), keep...), on)
		})
		return refusedHeld, err
	}
	s.admitLocked(now)
	s.cur.Store(rejectedState(cur.tok))
	s.update(func(h *health) { h.rejected, h.refusedTok, h.refusedOn = tok.AccessToken, "", nil })
	s.o.logger.Warn("ucoauth: the API refused the token; refreshing it", "key", s.key, "token", LogToken(tok))
	return refusedReplaced, nil
}

// refuser is a source that takes the API's refusals request by request,
// as *TokenSource does.
type refuser interface {
	refusedFor(tok *oauth2.Token, req *http.Request) bool
	refuse(tok *oauth2.Token, on string) (refusal, error)
}

// refusedFor reports whether the API already refused tok, the token
// served, for req's method and path while the pace held its refresh back.
// It is cheap when it did not: one atomic load and a compare, no
// allocation.
func (s *TokenSource) refusedFor(tok *oauth2.Token, req *http.Request) bool {
	h := s.h.Load()
	if h == nil || h.refusedTok == "" || h.refusedTok != tok.AccessToken {
		return false
	}
	on := requestKey(req)
	for _, r := range h.refusedOn {
		if r == on {
			return true
		}
	}
	return false
}

func (k keySource) refusedFor(tok *oauth2.Token, req *http.Request) bool {
	return k.m.Source(k.key).refusedFor(tok, req)
}

func (k keySource) refuse(tok *oauth2.Token, on string) (refusal, error) {
	return k.m.Source(k.key).refuse(tok, on)
}

// paceHolds reports whether a token request forced by an API refusal must
// wait at now, and until when: each in a streak waits one backoff step
// longer than the one before (see paceForced).
func (h *health) paceHolds(now int64) (until int64, held bool) {
	if h == nil || h.forcedAt == 0 || now >= satAdd(h.forcedOK, int64(rejectStreak)) {
		return 0, false
	}
	if now < h.forcedOK && !steppedBack(now, h.forcedAt, satAdd(h.forcedOK, -h.forcedAt)) {
		return h.forcedOK, true
	}
	return 0, false
}

// admitLocked records a token request forced by an API refusal, admitted
// at now, as the next step of the streak. s.mu must be held.
func (s *TokenSource) admitLocked(now int64) {
	n := 1
	if h := s.h.Load(); h != nil && h.forcedAt != 0 && now < satAdd(h.forcedOK, int64(rejectStreak)) {
		n = h.forced + 1
	}
	next := satAdd(now, int64(s.backoff(n, nil)))
	s.update(func(h *health) { h.forced, h.forcedAt, h.forcedOK, h.admitted = n, now, next, true })
}

func methodOf(on string) string { m, _, _ := strings.Cut(on, " "); return m }
func pathOf(on string) string   { _, p, _ := strings.Cut(on, " "); return p }

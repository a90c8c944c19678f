package squaretest

import (
	"net/http"
	"strconv"
	"time"
)

// Failure is an answer that FailNext puts in place of the real one.
type Failure struct {
	Status int         // the HTTP status answered
	Body   string      // the body answered, as is
	Header http.Header // headers added to the answer
	// Path limits the failure to one endpoint: "/oauth2/token" (the
	// default when empty), "/oauth2/revoke", "/oauth2/token/status" or
	// "/v2/" for every API call.
	Path string
}

type pending struct {
	n int // < 0: until ClearFailures
	f Failure
}

// Error is a Failure with Square's error body of one error.
func Error(status int, category, code, detail string) Failure {
	return Failure{Status: status, Body: ErrorBody(category, code, detail)}
}

// RateLimited is Square's 429. retryAfter > 0 adds a Retry-After header in
// seconds (rounded up); 0 sends none, as Square often does.
func RateLimited(retryAfter time.Duration) Failure {
	f := Error(http.StatusTooManyRequests, "RATE_LIMIT_ERROR", "RATE_LIMITED", "Rate limited")
	if retryAfter > 0 {
		secs := int64((retryAfter + time.Second - 1) / time.Second)
		f.Header = http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}}
	}
	return f
}

// Unavailable is Square's 503 SERVICE_UNAVAILABLE.
func Unavailable() Failure {
	return Error(http.StatusServiceUnavailable, "API_ERROR", "SERVICE_UNAVAILABLE", "Service Unavailable")
}

// FailNext answers the next n requests to f.Path with f instead of the real
// answer. n < 0 fails every request until ClearFailures; n == 0 fails none.
func (s *Server) FailNext(n int, f Failure) {
	if n == 0 {
		return
	}
	if f.Path == "" {
		f.Path = "/oauth2/token"
	}
	s.mu.Lock()
	s.failures = append(s.failures, &pending{n: n, f: f})
	s.mu.Unlock()
}

// ClearFailures drops every queued failure.
func (s *Server) ClearFailures() { s.mu.Lock(); s.failures = nil; s.mu.Unlock() }

// intercept records the version header, applies latency and injected
// failures, and reports whether it wrote the answer.
func (s *Server) intercept(w http.ResponseWriter, r *http.Request, path string) bool {
	s.mu.Lock()
	s.versionSeen(r)
	d := s.latency
	var f *Failure
	for i, p := range s.failures {
		if p.f.Path != path {
			continue
		}
		f = &p.f
		if p.n > 0 {
			p.n--
			if p.n == 0 {
				s.failures = append(s.failures[:i], s.failures[i+1:]...)
			}
		}
		s.stats.Injected++
		break
	}
	s.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return true
		}
	}
	if f == nil {
		return false
	}
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if f.Body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(f.Status)
	_, _ = w.Write([]byte(f.Body))
	return true
}

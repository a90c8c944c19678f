package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// Fleet diagnostics. A fleet test that ends with invalid_grant says only
// how many; a Trace says who presented which refresh token when.
const (
	// EnvChild is a fleet process's index, which Spawn sets and which the
	// process sends in HeaderChild on every request (see ChildOptions).
	EnvChild    = "UCOAUTH_FLEET_CHILD"
	HeaderChild = "X-Fleet-Child"
	// EnvDebug, set when running the tests, makes fleet processes log the
	// library's warnings and their refresh events to stderr.
	EnvDebug = "UCOAUTH_FLEET_DEBUG"
)

// Trace is a recording proxy in front of the fake UltraCart. It numbers
// refresh tokens by generation (the seeded one is 0, each one a refresh
// issues the next) and records every refresh_token request: which child
// presented which generation, when, what the newest generation was then,
// and the answer. Marks record the test's own steps (a Redis kill).
type Trace struct {
	front *httptest.Server
	start time.Time

	mu       sync.Mutex
	gen      map[string]int // refresh token -> generation
	newest   int
	lines    []string
	onAnswer func() // see AfterNextAnswer
}

// NewTrace proxies to base (the fake's BaseURL); seed is the refresh token
// the store was seeded with. The proxy closes when t ends.
func NewTrace(t testing.TB, base, seed string) *Trace {
	u, err := url.Parse(base)
	require.NoError(t, err)
	tr := &Trace{start: time.Now(), gen: map[string]int{seed: 0}}
	// Its own transport, whose connections close with the proxy: the
	// store modules' TestMain checks that no goroutine outlives the tests.
	transport := &http.Transport{}
	proxy := &httputil.ReverseProxy{Transport: transport, Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(&url.URL{Scheme: u.Scheme, Host: u.Host})
	}}
	tr.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/oauth/token") {
			proxy.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		r.Body = io.NopCloser(bytes.NewReader(body))
		if form.Get("grant_type") != "refresh_token" {
			proxy.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		at := time.Now()
		proxy.ServeHTTP(rec, r)
		if fn := tr.record(at, r.Header.Get(HeaderChild), form.Get("refresh_token"), rec); fn != nil {
			fn()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(func() {
		tr.front.Close()
		transport.CloseIdleConnections()
	})
	return tr
}

// BaseURL is the proxy's base URL, to give the children instead of the
// fake's.
func (tr *Trace) BaseURL() string { return tr.front.URL + "/rest/v2" }

// record notes a refresh_token request and its answer. It returns the
// AfterNextAnswer function to run when the answer issued a token.
func (tr *Trace) record(at time.Time, child, rt string, rec *httptest.ResponseRecorder) func() {
	var ans struct {
		RefreshToken string `json:"refresh_token"`
		Error        string `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &ans)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	g, known := tr.gen[rt]
	presented := fmt.Sprint(g)
	if !known {
		presented = "unknown"
	}
	line := fmt.Sprintf("%8.3fs child %s presents gen %s (newest %d): %d", at.Sub(tr.start).Seconds(), child, presented, tr.newest, rec.Code)
	if ans.RefreshToken != "" {
		tr.newest++
		tr.gen[ans.RefreshToken] = tr.newest
		line += fmt.Sprintf(" -> gen %d", tr.newest)
	} else if ans.Error != "" {
		line += " " + ans.Error
	}
	tr.lines = append(tr.lines, line)
	if ans.RefreshToken == "" {
		return nil
	}
	fn := tr.onAnswer
	tr.onAnswer = nil
	return fn
}

// AfterNextAnswer runs fn once the next refresh that issues a token has
// been answered by the fake, before the child that asked gets the answer.
func (tr *Trace) AfterNextAnswer(fn func()) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.onAnswer = fn
}

// Mark records a step of the test itself.
func (tr *Trace) Mark(what string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.lines = append(tr.lines, fmt.Sprintf("%8.3fs --- %s", time.Since(tr.start).Seconds(), what))
}

// String is the whole sequence, one line per refresh or mark.
func (tr *Trace) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return strings.Join(tr.lines, "\n")
}

// ChildOptions are the options a fleet process adds to its source: a
// client that names the process to a Trace (EnvChild in HeaderChild), and
// with EnvDebug set, a logger and a refresh hook that write to stderr.
// They log no token, only fingerprints.
func ChildOptions() []ucoauth.Option {
	child := os.Getenv(EnvChild)
	opts := []ucoauth.Option{ucoauth.WithHTTPClient(&http.Client{Transport: childHeader{child: child}})}
	if os.Getenv(EnvDebug) == "" {
		return opts
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("child", child)
	return append(opts, ucoauth.WithLogger(log), ucoauth.WithRefreshHook(func(e ucoauth.RefreshEvent) {
		fp := ""
		if e.Token != nil {
			fp = ucoauth.Fingerprint(e.Token.AccessToken)
		}
		log.Info("refresh event", "token", fp, "err", e.Err, "took", e.Duration)
	}))
}

// childHeader adds the process's index to every request it passes to next
// (nil: http.DefaultTransport).
type childHeader struct {
	child string
	next  http.RoundTripper
}

func (c childHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(HeaderChild, c.child)
	if c.next == nil {
		return http.DefaultTransport.RoundTrip(r)
	}
	return c.next.RoundTrip(r)
}

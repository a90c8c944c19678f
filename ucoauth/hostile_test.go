package ucoauth_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// simClock is a settable clock for WithClock.
type simClock struct{ ns atomic.Int64 }

func newSimClock() *simClock {
	c := &simClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *simClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *simClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type hostileAnswer func(n int64, refreshToken string) (status int, hdr map[string]string, body string)

// stormScenario runs a Manager over keys against a token endpoint answering
// with ans, advancing a simulated clock in steps while callers ask for
// tokens, and returns the token requests per key.
func stormScenario(t *testing.T, ans hostileAnswer, api http.HandlerFunc, steps int, step time.Duration) (tokenReqs, apiReqs int64) {
	return stormScenarioStore(t, ans, api, nil, steps, step)
}

func stormScenarioStore(t *testing.T, ans hostileAnswer, api http.HandlerFunc, wrap func(ucoauth.TokenStore) ucoauth.TokenStore, steps int, step time.Duration) (tokenReqs, apiReqs int64) {
	var tokN, apiN atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			n := tokN.Add(1)
			_ = r.ParseForm()
			st, hdr, body := ans(n, r.PostForm.Get("refresh_token"))
			for k, v := range hdr {
				w.Header().Set(k, v)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(st)
			io.WriteString(w, body)
		default:
			apiN.Add(1)
			if api != nil {
				api(w, r)
				return
			}
			w.WriteHeader(200)
		}
	}))
	defer srv.Close()
	clk := newSimClock()
	cfg := &oauth2.Config{ClientID: "cid", ClientSecret: "csecret-123456",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	store := tokenstore.NewMemory()
	const keys = 4
	for i := range keys {
		require.NoError(t, store.Save(t.Context(), fmt.Sprint("k", i), &oauth2.Token{AccessToken: fmt.Sprintf("AT-init-%d-xxxx", i),
			RefreshToken: fmt.Sprintf("RT-init-%d-yyyy", i), TokenType: "bearer", Expiry: clk.Now().Add(time.Minute), ExpiresIn: 60}))
	}
	var st ucoauth.TokenStore = store
	if wrap != nil {
		st = wrap(store)
	}
	m := ucoauth.NewManager(cfg, st, ucoauth.WithClock(clk.Now), ucoauth.WithRefreshTimeout(2*time.Second))
	for range steps {
		var wg sync.WaitGroup
		for g := range 40 {
			wg.Go(func() {
				key := fmt.Sprint("k", g%keys)
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				if g%2 == 0 {
					_, _ = m.Source(key).TokenContext(ctx)
					return
				}
				req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api", nil)
				resp, err := m.Client(ctx, key).Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
		wg.Wait()
		clk.Advance(step)
	}
	for i := range keys {
		st := m.Status(fmt.Sprint("k", i))
		t.Logf("k%d: %v failures=%d next=%v err=%v", i, st.State, st.Failures, st.NextAttempt, st.Err)
	}
	require.NoError(t, m.Close())
	return tokN.Load(), apiN.Load()
}

func stormOK(n int64, expiresIn string) string {
	return fmt.Sprintf(`{"access_token":"AT-%d-xxxxxxxx","refresh_token":"RT-%d-yyyyyyyy","token_type":"bearer","expires_in":%s}`, n, n, expiresIn)
}

// TestHostileTokenEndpointCausesNoStorm: whatever the token endpoint
// answers (absurd expires_in, every Retry-After, errors in a 200, the same
// token back, a redirect), 40 callers a step over 4 keys, half through the
// Transport, make at most one token request per key per step.
func TestHostileTokenEndpointCausesNoStorm(t *testing.T) {
	fixed := func(st int, hdr map[string]string, body string) hostileAnswer {
		return func(int64, string) (int, map[string]string, string) { return st, hdr, body }
	}
	okWith := func(ei string) hostileAnswer {
		return func(n int64, _ string) (int, map[string]string, string) { return 200, nil, stormOK(n, ei) }
	}
	cases := map[string]hostileAnswer{
		"ei-tiny":           okWith(`"0.001"`),
		"ei-huge":           okWith(`"1e309"`),
		"ei-neg":            okWith(`"-5"`),
		"ei-nan":            okWith(`"NaN"`),
		"ei-frac":           okWith(`"2.5"`),
		"ei-3600":           okWith(`3600`),
		"500":               fixed(500, nil, `{"error":"server_error"}`),
		"429-noRA":          fixed(429, nil, `{"error":"slow_down"}`),
		"429-RA-huge":       fixed(429, map[string]string{"Retry-After": "99999999999999999999"}, `{}`),
		"429-RA-neg":        fixed(429, map[string]string{"Retry-After": "-5"}, `{}`),
		"429-RA-past":       fixed(429, map[string]string{"Retry-After": "Mon, 01 Jan 1900 00:00:00 GMT"}, `{}`),
		"429-RA-future":     fixed(429, map[string]string{"Retry-After": "Fri, 01 Jan 9999 00:00:00 GMT"}, `{}`),
		"429-RA-garbage":    fixed(429, map[string]string{"Retry-After": "soon"}, `{}`),
		"503-RA-0":          fixed(503, map[string]string{"Retry-After": "0"}, `{}`),
		"200-error":         fixed(200, nil, `{"error":"server_error","access_token":"AT-x-xxxxxxxxx"}`),
		"200-noAT":          fixed(200, nil, `{"token_type":"bearer"}`),
		"200-garbage":       fixed(200, nil, `<html>`),
		"400-invalidgrant":  fixed(400, nil, `{"error":"invalid_grant"}`),
		"401-invalidclient": fixed(401, nil, `{"error":"invalid_client"}`),
		"same-token": func(n int64, rt string) (int, map[string]string, string) {
			return 200, nil, `{"access_token":"AT-init-0-xxxx","refresh_token":"` + rt + `","token_type":"bearer","expires_in":60}`
		},
		"302": fixed(302, map[string]string{"Location": "http://127.0.0.1:1/x"}, ``),
	}
	for name, ans := range cases {
		t.Run(name, func(t *testing.T) {
			// 10 simulated minutes in 5 s steps.
			tok, api := stormScenario(t, ans, nil, 120, 5*time.Second)
			t.Logf("%s: token requests %d, API %d", name, tok, api)
			assert.LessOrEqual(t, tok, int64(4*121), "more than one token request per key per step")
		})
	}
}

// TestHostileAPICausesNoStorm: an API that refuses every token (even a
// refresh's, even when the refresh returns the refused one), or refuses the
// first use of each, or answers 403, costs a paced handful of token
// requests, and each API call at most one retry.
func TestHostileAPICausesNoStorm(t *testing.T) {
	rotating := func(n int64, _ string) (int, map[string]string, string) { return 200, nil, stormOK(n, "3600") }
	sameAT := func(n int64, rt string) (int, map[string]string, string) {
		return 200, nil, `{"access_token":"AT-fixed-xxxx","refresh_token":"` + rt + `","token_type":"bearer","expires_in":3600}`
	}
	var seen sync.Map
	firstAfterRefresh := func(w http.ResponseWriter, r *http.Request) {
		if _, loaded := seen.LoadOrStore(r.Header.Get("Authorization"), true); !loaded {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":"invalid_token","retry":true}`)
			return
		}
		w.WriteHeader(200)
	}
	always := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
	}
	cases := []struct {
		name string
		tok  hostileAnswer
		api  http.HandlerFunc
	}{
		{"401-always-rotating", rotating, always(401)},
		{"401-always-sameAT", sameAT, always(401)},
		{"403-always", rotating, always(403)},
		{"401-first-after-refresh", rotating, firstAfterRefresh},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seen = sync.Map{}
			tok, api := stormScenario(t, c.tok, c.api, 120, 5*time.Second)
			t.Logf("%s: token requests %d, API %d", c.name, tok, api)
			assert.LessOrEqual(t, tok, int64(4*20), "token request storm")
			assert.LessOrEqual(t, api, int64(2*20*120), "API storm")
		})
	}
}

// TestHangingTokenEndpointBoundsCallersAndClose: 200 callers of a key whose
// token endpoint never answers return at their context's deadline, share one
// token request, and Close returns once the refresh timeout cut it.
func TestHangingTokenEndpointBoundsCallersAndClose(t *testing.T) {
	release := make(chan struct{})
	var tokN atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokN.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	cfg := &oauth2.Config{ClientID: "cid", ClientSecret: "csecret-123456",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(t.Context(), "k", &oauth2.Token{AccessToken: "AT-old-xxxx", RefreshToken: "RT-old-yyyy", Expiry: time.Now().Add(-time.Hour)}))
	m := ucoauth.NewManager(cfg, store, ucoauth.WithRefreshTimeout(300*time.Millisecond))
	var wg sync.WaitGroup
	var errs atomic.Int64
	for range 200 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if _, err := m.Source("k").TokenContext(ctx); err != nil {
				errs.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(200), errs.Load())
	require.NoError(t, m.Close())
	t.Logf("token requests %d", tokN.Load())
	assert.LessOrEqual(t, tokN.Load(), int64(1))
}

// A failure's backoff is measured on the source's clock. When that clock
// steps back (NTP, a VM restored from a snapshot, WithClock), the source
// must not sit out the distance it stepped back on top of the backoff.
func TestBackoffEndsWhenClockStepsBack(t *testing.T) {
	var tokN atomic.Int64
	var fail atomic.Bool
	fail.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := tokN.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if fail.Load() {
			w.WriteHeader(500)
			io.WriteString(w, `{"error":"server_error"}`)
			return
		}
		io.WriteString(w, stormOK(n, "3600"))
	}))
	defer srv.Close()
	clk := newSimClock()
	cfg := &oauth2.Config{ClientID: "cid", ClientSecret: "csecret-123456",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(t.Context(), "k", &oauth2.Token{AccessToken: "AT-old-xxxx", RefreshToken: "RT-old-yyyy", Expiry: clk.Now().Add(-365 * 24 * time.Hour)}))
	src := ucoauth.NewTokenSource(cfg, store, "k", ucoauth.WithClock(clk.Now))
	defer src.Close()
	_, err := src.Token()
	require.Error(t, err)
	require.Equal(t, ucoauth.StateBackingOff, src.Status().State)

	// A reading a little before the failure is no step: a caller may have
	// read the clock just before the flight it then found failed.
	clk.Advance(-100 * time.Millisecond)
	_, err = src.Token()
	require.Error(t, err)
	assert.Equal(t, int64(1), tokN.Load(), "a small step back cut the backoff short")
	assert.Equal(t, ucoauth.StateBackingOff, src.Status().State)

	clk.Advance(-30 * 24 * time.Hour) // the clock steps back a month
	fail.Store(false)
	clk.Advance(ucoauth.DefaultMaxBackoff + time.Second) // longer than any backoff
	tok, err := src.Token()
	require.NoError(t, err, "status %+v", src.Status())
	assert.NotEqual(t, "AT-old-xxxx", tok.AccessToken)
	assert.Equal(t, int64(2), tokN.Load())
}

// The pace of token requests forced by API refusals is measured on the
// source's clock too: a clock stepping back does not hold the next one
// back by the step.
func TestForcedPaceEndsWhenClockStepsBack(t *testing.T) {
	var tokN atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			n := tokN.Add(1)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, stormOK(n, "3600"))
			return
		}
		w.WriteHeader(401)
	}))
	defer srv.Close()
	clk := newSimClock()
	cfg := &oauth2.Config{ClientID: "cid", ClientSecret: "csecret-123456",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(t.Context(), "k", &oauth2.Token{AccessToken: "AT-old-xxxx", RefreshToken: "RT-old-yyyy",
		Expiry: clk.Now().Add(365 * 24 * time.Hour), ExpiresIn: 3600}))
	src := ucoauth.NewTokenSource(cfg, store, "k", ucoauth.WithClock(clk.Now))
	defer src.Close()
	client := ucoauth.NewClient(t.Context(), src)
	get := func() {
		resp, err := client.Get(srv.URL + "/api")
		if err == nil {
			resp.Body.Close()
		}
	}
	for range 5 {
		get()
	}
	paced := tokN.Load()
	require.GreaterOrEqual(t, paced, int64(1))
	clk.Advance(-30 * 24 * time.Hour)
	clk.Advance(ucoauth.DefaultMaxBackoff + time.Second)
	get()
	assert.Equal(t, paced+1, tokN.Load(), "the forced refresh waited out the clock's step back")
	for range 5 {
		get()
	}
	assert.Equal(t, paced+1, tokN.Load(), "one token request per step back, not a loop")
}

// A custom clock beyond what unix nanoseconds hold (before 1678, after
// 2262) saturates every deadline to the reading itself: each token would
// look expired on arrival, and each call refresh. The clock is bounded
// instead: a stopped clock, on which nothing loops.
func TestClockBeyondNanosecondRangeCausesNoRefreshLoop(t *testing.T) {
	for _, far := range []time.Time{time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)} {
		t.Run(far.Format("2006"), func(t *testing.T) {
			var tokN atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/token" {
					return // the API accepts every token
				}
				n := tokN.Add(1)
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, stormOK(n, "3600"))
			}))
			defer srv.Close()
			var ahead atomic.Int64
			now := func() time.Time { return far.Add(time.Duration(ahead.Add(int64(time.Millisecond)))) }
			cfg := &oauth2.Config{ClientID: "cid", ClientSecret: "csecret-123456",
				Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
			store := tokenstore.NewMemory()
			require.NoError(t, store.Save(t.Context(), "k", &oauth2.Token{AccessToken: "AT-old-xxxx", RefreshToken: "RT-old-yyyy",
				Expiry: far.Add(-time.Hour)}))
			m := ucoauth.NewManager(cfg, store, ucoauth.WithClock(now))
			defer m.Close()
			client := m.Client(t.Context(), "k")
			for range 50 {
				_, err := m.Source("k").Token()
				require.NoError(t, err)
				resp, err := client.Get(srv.URL + "/api")
				require.NoError(t, err)
				resp.Body.Close()
			}
			st := m.Status("k")
			assert.Equal(t, ucoauth.StateFresh, st.State)
			assert.LessOrEqual(t, tokN.Load(), int64(1), "one token request per call: a refresh loop")
		})
	}
}

// A Retry-After given as a date is read on the source's clock, like the
// backoff it sets: on a simulated clock behind real time, a 429 asking for
// two minutes must not be taken as already past (a retry a second later),
// nor, ahead of it, as an hour.
func TestRetryAfterDateReadOnSourceClock(t *testing.T) {
	for _, offset := range []time.Duration{-5 * 365 * 24 * time.Hour, 5 * 365 * 24 * time.Hour} {
		t.Run(offset.String(), func(t *testing.T) {
			clk := newSimClock()
			clk.ns.Store(time.Now().Add(offset).UnixNano())
			var tokN atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tokN.Add(1)
				w.Header().Set("Retry-After", clk.Now().Add(2*time.Minute).UTC().Format(http.TimeFormat))
				w.WriteHeader(http.StatusTooManyRequests)
			}))
			defer srv.Close()
			cfg := &oauth2.Config{ClientID: "cid", ClientSecret: "csecret-123456",
				Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
			store := tokenstore.NewMemory()
			require.NoError(t, store.Save(t.Context(), "k", &oauth2.Token{AccessToken: "AT-old-xxxx", RefreshToken: "RT-old-yyyy", Expiry: clk.Now().Add(-time.Hour)}))
			src := ucoauth.NewTokenSource(cfg, store, "k", ucoauth.WithClock(clk.Now))
			defer src.Close()
			start := clk.Now()
			_, err := src.Token()
			require.Error(t, err)
			next := src.Status().NextAttempt
			assert.WithinRange(t, next, start.Add(2*time.Minute-2*time.Second), start.Add(2*time.Minute+2*time.Second))
			for range 100 {
				clk.Advance(time.Second)
				_, _ = src.Token()
			}
			assert.Equal(t, int64(1), tokN.Load(), "retried before the Retry-After")
		})
	}
}

// A Manager's idle sweeps run on its clock: when it steps back, sources
// asked for since are still dropped once idle, and so are those used just
// before the step, instead of the Manager growing for as long as the step.
func TestManagerSweepsAfterClockStepsBack(t *testing.T) {
	clk := newSimClock()
	cfg := &oauth2.Config{ClientID: "cid", Endpoint: oauth2.Endpoint{TokenURL: "https://127.0.0.1:1/token"}}
	m := ucoauth.NewManager(cfg, tokenstore.NewMemory(), ucoauth.WithClock(clk.Now), ucoauth.WithIdleTimeout(time.Minute))
	defer m.Close()
	for i := range 200 {
		m.Source(fmt.Sprint("before", i))
	}
	clk.Advance(-30 * 24 * time.Hour)
	for round := range 10 {
		for i := range 200 {
			m.Source(fmt.Sprint("r", round, "-", i))
		}
		clk.Advance(time.Minute)
	}
	clk.Advance(2 * time.Minute)
	for i := range 1000 {
		m.Source(fmt.Sprint("last", i)) // every shard's sweep runs
	}
	assert.Equal(t, 1000, m.Len(), "the Manager kept sources idle for minutes")
}

// A refresh timeout as long as a Duration holds (a careless "no timeout")
// must not overflow into a deadline already past, failing every refresh.
func TestHugeRefreshTimeoutStillRefreshes(t *testing.T) {
	var tokN atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := tokN.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, stormOK(n, "3600"))
	}))
	defer srv.Close()
	cfg := &oauth2.Config{ClientID: "cid", ClientSecret: "csecret-123456",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(t.Context(), "k", &oauth2.Token{AccessToken: "AT-old-xxxx", RefreshToken: "RT-old-yyyy", Expiry: time.Now().Add(-time.Hour)}))
	src := ucoauth.NewTokenSource(cfg, store, "k", ucoauth.WithRefreshTimeout(time.Duration(math.MaxInt64)))
	defer src.Close()
	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, "AT-1-xxxxxxxx", tok.AccessToken)
}

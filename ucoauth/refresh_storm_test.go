package ucoauth_test

// Whatever a token endpoint or an API answers, however fast, callers cause
// no storm of token requests, and a hanging endpoint bounds callers and Close.

import (
	"context"
	"fmt"
	"io"
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

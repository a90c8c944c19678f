package ucoauth_test

import (
	"errors"
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

	"github.com/ucoauth/go-ucoauth/internal/ultracart"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// frozenClock reads a fixed time that moves only by Advance: no pace step
// elapses behind the test's back, however slow the machine.
type frozenClock struct{ at atomic.Int64 }

func newFrozenClock() *frozenClock {
	c := &frozenClock{}
	c.at.Store(time.Now().UnixNano())
	return c
}

func (c *frozenClock) Now() time.Time          { return time.Unix(0, c.at.Load()) }
func (c *frozenClock) Advance(d time.Duration) { c.at.Add(int64(d)) }

// scopedAPI is an API that accepts the merchant's token on /ok (it asks the
// fake UltraCart whether the token is live, so a revoked token is refused
// there too) and refuses every token on /bad, as a resource outside the
// grant's scope. It counts the requests that reach /bad.
func scopedAPI(t *testing.T, f *fixture) (srv *httptest.Server, bad *atomic.Int32) {
	bad = &atomic.Int32{}
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			bad.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, f.srv.BaseURL()+"/order/orders", nil)
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		req.Header.Set("Authorization", r.Header.Get("Authorization"))
		req.Header.Set(ultracart.HeaderAPIVersion, r.Header.Get(ultracart.HeaderAPIVersion))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	}))
	t.Cleanup(srv.Close)
	return srv, bad
}

// call GETs url and reports its status, or the error.
func call(c *http.Client, url string) (int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestAPIRefusingOnePathKeepsTheOtherPathsServed: the API accepts the
// merchant's token on one path and answers 401 on another. The first 401
// forces one refresh; the new token is refused there too, and that refusal
// goes back to its caller alone, as a *RefusedError. Every call to the
// accepting path succeeds, sequential or concurrent, through a source or a
// Manager's client, with one token request for the 50 calls.
func TestAPIRefusingOnePathKeepsTheOtherPathsServed(t *testing.T) {
	for _, tc := range []struct {
		name       string
		concurrent bool
		manager    bool
	}{
		{"sequential", false, false},
		{"concurrent", true, false},
		{"manager concurrent", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, time.Hour)
			clk := newFrozenClock()
			api, bad := scopedAPI(t, f)
			var src oauth2.TokenSource
			if tc.manager {
				m := ucoauth.NewManager(f.cfg, f.store, ucoauth.WithClock(clk.Now))
				defer m.Close()
				src = m.Source("m") // a Manager's client looks its source up per request
				client := m.Client(t.Context(), "m")
				client.Transport.(*ucoauth.Transport).Origin = api.URL
				runMixed(t, client, api.URL, tc.concurrent)
			} else {
				s := ucoauth.NewTokenSource(f.cfg, f.store, "m", ucoauth.WithClock(clk.Now))
				defer s.Close()
				src = s
				runMixed(t, &http.Client{Transport: &ucoauth.Transport{Source: s, Origin: api.URL}}, api.URL, tc.concurrent)
			}
			refreshes := f.srv.Stats().Refreshes()
			t.Logf("token requests: %d; requests that reached the refusing path: %d", refreshes, bad.Load())
			assert.LessOrEqual(t, refreshes, 2, "token requests for 50 calls")
			assert.Equal(t, 1, refreshes, "one forced refresh for the token generation refused first")
			if tc.concurrent {
				// Refused at once with the old token, then with the new.
				assert.LessOrEqual(t, int(bad.Load()), 2*25, "each call to the refusing path is sent at most twice")
			} else {
				assert.LessOrEqual(t, int(bad.Load()), 2, "once refused with the fresh token, the request is not sent again before the pace allows")
			}
			tok, err := src.Token()
			require.NoError(t, err, "the fresh token is still served")
			assert.NotEqual(t, f.tok.AccessToken, tok.AccessToken)
		})
	}
}

// runMixed makes 50 calls, alternating the accepting and the refusing
// path, one after another or all at once.
func runMixed(t *testing.T, client *http.Client, base string, concurrent bool) {
	t.Helper()
	var okFailed, badOther atomic.Int32
	one := func(i int) {
		if i%2 == 0 {
			code, err := call(client, base+"/ok")
			if err != nil || code != http.StatusOK {
				okFailed.Add(1)
				t.Logf("accepting path failed: %d %v", code, err)
			}
			return
		}
		code, err := call(client, base+"/bad")
		var re *ucoauth.RefusedError
		switch {
		case errors.As(err, &re):
			assert.ErrorIs(t, err, ucoauth.ErrTokenRefused)
			assert.Equal(t, "m", re.Key)
			assert.Equal(t, "GET /bad", re.Method+" "+re.Path)
		case err == nil && code == http.StatusUnauthorized:
			// Refused with a token another call had just replaced.
		default:
			badOther.Add(1)
			t.Logf("refusing path: %d %v", code, err)
		}
	}
	if concurrent {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 50 {
			wg.Go(func() {
				<-start
				one(i)
			})
		}
		close(start)
		wg.Wait()
	} else {
		for i := range 50 {
			one(i)
		}
	}
	assert.Zero(t, okFailed.Load(), "calls to the accepting path failed")
	assert.Zero(t, badOther.Load(), "the refusing path answered something else than its refusal")
}

// TestRefusedPathAfterThePaceRefreshesOnceMore: once the pace allows, a
// request refused with the fresh token replaces it once more (the API may
// have revoked that one too), and the new token is refused there and
// served everywhere else; a genuinely revoked token is replaced as soon as
// the pace allows, and meanwhile its refusals are RefusedErrors.
func TestRefusedPathAfterThePaceRefreshesOnceMore(t *testing.T) {
	f := newFixture(t, time.Hour)
	clk := newFrozenClock()
	api, bad := scopedAPI(t, f)
	src := ucoauth.NewTokenSource(f.cfg, f.store, "m", ucoauth.WithClock(clk.Now))
	defer src.Close()
	client := &http.Client{Transport: &ucoauth.Transport{Source: src, Origin: api.URL}}

	_, err := call(client, api.URL+"/bad")
	require.ErrorIs(t, err, ucoauth.ErrTokenRefused)
	require.Equal(t, 1, f.srv.Stats().Refreshes())
	fresh, terr := src.Token()
	require.NoError(t, terr)
	for _, secret := range []string{fresh.AccessToken, fresh.RefreshToken, f.tok.AccessToken, f.tok.RefreshToken, f.cfg.ClientSecret} {
		assert.NotContains(t, err.Error(), secret)
	}
	require.EqualValues(t, 2, bad.Load(), "sent with the old token, then once with the new")
	_, err = call(client, api.URL+"/bad")
	require.ErrorIs(t, err, ucoauth.ErrTokenRefused)
	assert.EqualValues(t, 2, bad.Load(), "not sent again while the pace holds")

	clk.Advance(2 * time.Second) // past the first step (1 s, jittered)
	_, err = call(client, api.URL+"/bad")
	require.ErrorIs(t, err, ucoauth.ErrTokenRefused)
	assert.Equal(t, 2, f.srv.Stats().Refreshes(), "the pace allowed one more forced refresh")
	assert.EqualValues(t, 3, bad.Load(), "the known refusal forced the refresh without a request; the new token was sent once")
	code, err := call(client, api.URL+"/ok")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code)

	// The API revokes the fresh token while the pace holds (step 2: 2 s).
	tok, err := src.Token()
	require.NoError(t, err)
	require.True(t, f.srv.RejectToken(tok.AccessToken))
	_, err = call(client, api.URL+"/ok")
	require.ErrorIs(t, err, ucoauth.ErrTokenRefused, "held: the refusal is the caller's")
	assert.Equal(t, 2, f.srv.Stats().Refreshes())
	clk.Advance(5 * time.Second)
	code, err = call(client, api.URL+"/ok")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code, "replaced once the pace allowed")
	assert.Equal(t, 3, f.srv.Stats().Refreshes())
}

// TestRefusalWhileThePaceHoldsAdoptsANewerStoredToken: the pace holds the
// next forced refresh back, and the API refuses the token because another
// process refreshed and saved a newer one (a server that revokes the old
// access token at rotation). The refused request adopts the stored token,
// at no cost, and succeeds: the pace holds back token requests, not
// adoptions.
func TestRefusalWhileThePaceHoldsAdoptsANewerStoredToken(t *testing.T) {
	f := newFixture(t, time.Hour)
	clk := newFrozenClock()
	api, _ := scopedAPI(t, f)
	src := ucoauth.NewTokenSource(f.cfg, f.store, "m", ucoauth.WithClock(clk.Now))
	defer src.Close()
	client := &http.Client{Transport: &ucoauth.Transport{Source: src, Origin: api.URL}}
	_, err := call(client, api.URL+"/bad")
	require.ErrorIs(t, err, ucoauth.ErrTokenRefused, "precondition: a forced refresh, and the pace now holds")
	held, err := src.Token()
	require.NoError(t, err)

	newer := f.srv.Issue("DEMO", ucoauth.ScopeOrderRead) // another process's refresh
	require.NoError(t, f.store.Save(t.Context(), "m", newer))
	require.True(t, f.srv.RejectToken(held.AccessToken))
	refreshes := f.srv.Stats().Refreshes()

	code, err := call(client, api.URL+"/ok")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code, "the newer stored token was adopted")
	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, newer.AccessToken, tok.AccessToken)
	assert.Equal(t, refreshes, f.srv.Stats().Refreshes(), "adopted at no cost")
}

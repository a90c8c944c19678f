package ucoauth_test

// A source's clock may step back (NTP, a VM restored from a snapshot) or hold
// any value: backoff, pace and the Manager's sweep still end.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

func (c *simClock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

func (c *simClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

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

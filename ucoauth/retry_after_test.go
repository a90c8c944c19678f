package ucoauth_test

// Retry-After from a token endpoint is honoured, capped, and read on the
// source's clock.

import (
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
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

func TestRetryAfterIsCapped(t *testing.T) {
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	soon := time.Now().Add(10 * time.Minute).UTC().Format(http.TimeFormat)
	cases := []struct {
		header   string
		min, max time.Duration
	}{
		{"7", 7 * time.Second, 7 * time.Second},
		{"3600", time.Hour, time.Hour},
		{"3601", ucoauth.MaxRetryAfter, ucoauth.MaxRetryAfter},
		{"9223372036", ucoauth.MaxRetryAfter, ucoauth.MaxRetryAfter},
		{"99999999999", ucoauth.MaxRetryAfter, ucoauth.MaxRetryAfter},
		{"999999999999999999999999", ucoauth.MaxRetryAfter, ucoauth.MaxRetryAfter},
		{"Fri, 31 Dec 9999 23:59:59 GMT", ucoauth.MaxRetryAfter, ucoauth.MaxRetryAfter},
		{soon, 9 * time.Minute, 10 * time.Minute},
		{past, 0, 0},
		{"-5", 0, 0},
		{"1.5", 0, 0},
		{"soon", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.header, func(t *testing.T) {
			rs := newRaw(t, 429, `{}`, "Retry-After", tc.header)
			_, err := ucoauth.Exchange(t.Context(), rs.config(""), "c")
			var e *ucoauth.Error
			require.ErrorAs(t, err, &e)
			assert.GreaterOrEqual(t, e.RetryAfter, tc.min)
			assert.LessOrEqual(t, e.RetryAfter, tc.max)
		})
	}
}

// A far-future Retry-After must park the source (capped), never overflow
// into a next try in the past that lets every call hit the server.
func TestHugeRetryAfterStillBacksOff(t *testing.T) {
	for _, h := range []string{"9223372036", "99999999999", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		t.Run(h, func(t *testing.T) {
			uc := ucoauthtest.NewServer()
			defer uc.Close()
			store := tokenstore.NewMemory()
			old := uc.Issue("M")
			old.Expiry = time.Now().Add(-time.Minute)
			require.NoError(t, store.Save(t.Context(), "m", old))
			uc.FailNext(-1, ucoauthtest.Failure{Status: 429, Body: `{}`, Header: http.Header{"Retry-After": {h}}})
			src := ucoauth.NewTokenSource(uc.Config(), store, "m")
			for range 5 {
				_, err := src.Token()
				require.Error(t, err)
			}
			assert.Equal(t, 1, uc.Stats().Refreshes(), "one request, then backoff")
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

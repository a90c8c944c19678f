package ucoauth_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// lockCounting counts the store's locks.
type lockCounting struct {
	*store
	locks atomic.Int32
}

func (l *lockCounting) Lock(ctx context.Context, key string) (func(), error) {
	l.locks.Add(1)
	return l.store.Lock(ctx, key)
}

// prefixAPI is scopedAPI refusing every path under /bad, not /bad alone.
func prefixAPI(t *testing.T, f *fixture) *httptest.Server {
	inner, _ := scopedAPI(t, f)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/bad") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, inner.URL+r.URL.RequestURI(), nil)
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		req.Header = r.Header.Clone()
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
	return srv
}

// TestRefusedPathsWhilePacedCostNoStoreLock: while the pace holds the next
// forced refresh back, requests the API refuses on many distinct paths (one
// resource per ID outside the grant's scope, more than a source remembers)
// each fail with a *RefusedError, and none takes the store's lock or reads
// the store more than once: a refused request must not become a storm on
// Redis or SQL.
func TestRefusedPathsWhilePacedCostNoStoreLock(t *testing.T) {
	f := newFixture(t, time.Hour)
	clk := newFrozenClock()
	api := prefixAPI(t, f)
	ls := &lockCounting{store: f.store}
	src := ucoauth.NewTokenSource(f.cfg, ls, "m", ucoauth.WithClock(clk.Now))
	defer src.Close()
	client := &http.Client{Transport: &ucoauth.Transport{Source: src, Origin: api.URL}}
	_, err := call(client, api.URL+"/bad")
	require.ErrorIs(t, err, ucoauth.ErrTokenRefused, "precondition: the pace holds")
	locks, loads := ls.locks.Load(), f.store.loads.Load()
	for i := range 50 {
		_, err := call(client, fmt.Sprintf("%s/bad?id=%d&access_token=SECRETQ", api.URL, i))
		var re *ucoauth.RefusedError
		require.ErrorAs(t, err, &re)
		assert.NotContains(t, re.Error(), "SECRETQ", "the query is not the RefusedError's")
	}
	for i := range 50 {
		_, err := call(client, fmt.Sprintf("%s/bad/%d", api.URL, i))
		require.ErrorIs(t, err, ucoauth.ErrTokenRefused)
	}
	t.Logf("locks %d, loads %d for 100 refused requests", ls.locks.Load()-locks, f.store.loads.Load()-loads)
	assert.Zero(t, ls.locks.Load()-locks, "store locks taken for refusals the pace holds back")
	assert.LessOrEqual(t, f.store.loads.Load()-loads, int32(50), "store reads: one per refused request sent, to adopt a newer stored token")
	assert.Equal(t, 1, f.srv.Stats().Refreshes())
}

// TestRefusalsOnManyPathsUnderRaceAndClose: callers on many paths, some
// refused, some accepted, race with each other, with the pace allowing
// forced refreshes as the clock moves, and with Close.
func TestRefusalsOnManyPathsUnderRaceAndClose(t *testing.T) {
	f := newFixture(t, time.Hour)
	clk := newFrozenClock()
	api := prefixAPI(t, f)
	m := ucoauth.NewManager(f.cfg, f.store, ucoauth.WithClock(clk.Now))
	client := m.Client(t.Context(), "m")
	client.Transport.(*ucoauth.Transport).Origin = api.URL
	var okFailed atomic.Int32
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				if i%2 == 0 {
					code, err := call(client, api.URL+"/ok")
					if err != nil || code != http.StatusOK {
						okFailed.Add(1)
					}
					continue
				}
				_, _ = call(client, fmt.Sprintf("%s/bad/%d", api.URL, (g*40+i)%37))
				if i%10 == 1 {
					clk.Advance(700 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, m.Close())
	t.Logf("token requests: %d", f.srv.Stats().Refreshes())
	assert.Zero(t, okFailed.Load())
	assert.LessOrEqual(t, f.srv.Stats().Refreshes(), 12)
}

// TestRefusedPathsWhilePacedLogOnce: requests the API refuses on many
// distinct paths while the pace holds do not log a line each at Info or
// above: a refused resource ID per request must not flood the logs.
func TestRefusedPathsWhilePacedLogOnce(t *testing.T) {
	f := newFixture(t, time.Hour)
	clk := newFrozenClock()
	api := prefixAPI(t, f)
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil)) // Info and above
	src := ucoauth.NewTokenSource(f.cfg, f.store, "m", ucoauth.WithClock(clk.Now), ucoauth.WithLogger(logger))
	defer src.Close()
	client := &http.Client{Transport: &ucoauth.Transport{Source: src, Origin: api.URL}}
	for i := range 50 {
		_, err := call(client, fmt.Sprintf("%s/bad/%d", api.URL, i))
		require.ErrorIs(t, err, ucoauth.ErrTokenRefused)
	}
	mu.Lock()
	lines := strings.Count(buf.String(), "\n")
	mu.Unlock()
	t.Logf("%d log lines at Info or above for 50 refused requests", lines)
	assert.LessOrEqual(t, lines, 6)
}

package ucoauth_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// hangingStore's Load blocks until released, whatever its context says: a
// paused Redis behind a client without timeouts.
type hangingStore struct {
	ucoauth.TokenStore
	release chan struct{}
	loads   atomic.Int32
}

func (h *hangingStore) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	h.loads.Add(1)
	<-h.release
	return h.TokenStore.Load(ctx, key)
}

// returnsBeforeRelease runs fn and fails the test unless fn returns while
// the store still hangs. The bound only catches a hang.
func returnsBeforeRelease(t *testing.T, h *hangingStore, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		close(h.release)
		<-done
		t.Fatal("the caller's deadline was ignored: it waited for the store")
		return nil
	}
}

// TestColdStartHonoursTheCallersDeadline: the caller's context bounds its
// wait for a first load from a hanging store; the load goes on in the
// background and serves the next caller without another store read.
func TestColdStartHonoursTheCallersDeadline(t *testing.T) {
	f := newFixture(t, time.Hour)
	h := &hangingStore{TokenStore: f.store, release: make(chan struct{})}
	src := ucoauth.NewTokenSource(f.cfg, h, "m", ucoauth.WithClock(f.clock.Now))
	defer src.Close()

	err := returnsBeforeRelease(t, h, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		_, err := src.TokenContext(ctx)
		return err
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// Through NewClient the request's context bounds it the same way.
	err = returnsBeforeRelease(t, h, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.BaseURL()+"/order/orders", nil)
		resp, err := ucoauth.NewClient(t.Context(), src).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Zero(t, f.srv.Stats().API, "no request without a token")

	close(h.release)
	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, f.tok.AccessToken, tok.AccessToken)
	assert.Equal(t, int32(1), h.loads.Load(), "the one background load served every later caller")
}

// TestColdStartThroughManagerHonoursTheCallersDeadline: the same through a
// Manager's Client and Revoke; Status answers meanwhile without waiting.
func TestColdStartThroughManagerHonoursTheCallersDeadline(t *testing.T) {
	f := newFixture(t, time.Hour)
	h := &hangingStore{TokenStore: f.store, release: make(chan struct{})}
	m := ucoauth.NewManager(f.cfg, h, ucoauth.WithClock(f.clock.Now))
	defer m.Close()
	err := returnsBeforeRelease(t, h, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.BaseURL()+"/order/orders", nil)
		resp, err := m.Client(t.Context(), "m").Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	err = returnsBeforeRelease(t, h, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		return m.Revoke(ctx, "m")
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, ucoauth.StateNotLoaded, m.Status("m").State, "still loading")
	assert.Zero(t, f.srv.Stats().API)
	assert.Zero(t, f.srv.Stats().Revoke, "nothing revoked")

	close(h.release)
	tok, err := m.Source("m").Token()
	require.NoError(t, err)
	assert.Equal(t, f.tok.AccessToken, tok.AccessToken)
	assert.Equal(t, ucoauth.StateFresh, m.Status("m").State)
	assert.Equal(t, int32(1), h.loads.Load(), "the one background load served every later caller")
}

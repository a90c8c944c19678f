package ucoauth

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// oneTokenStore holds one token and accepts every save.
type oneTokenStore struct{ tok *oauth2.Token }

func (s oneTokenStore) Load(context.Context, string) (*oauth2.Token, error) {
	t := *s.tok
	return &t, nil
}
func (oneTokenStore) Save(context.Context, string, *oauth2.Token) error { return nil }
func (oneTokenStore) Delete(context.Context, string) error              { return nil }

// TestStaleCallerRespectsABackoffThatBeganMeanwhile: a caller of a stale
// token finds no refresh running and no backoff, and is descheduled; a
// refresh starts, fails, and backs off. When the caller resumes, it must not
// start a second token request inside that backoff.
func TestStaleCallerRespectsABackoffThatBeganMeanwhile(t *testing.T) {
	var tokN atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokN.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"error":"server_error"}`)
	}))
	defer srv.Close()
	cfg := &oauth2.Config{ClientID: "cid", ClientSecret: "csecret-123456",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	now := time.Now()
	store := oneTokenStore{&oauth2.Token{AccessToken: "AT-stale-xxxx", RefreshToken: "RT-yyyy", Expiry: now.Add(time.Minute), ExpiresIn: 3600}}
	src := NewTokenSource(cfg, store, "k", WithClock(func() time.Time { return now }))
	defer src.Close()
	// Load it: stale at once (an hour's lifetime, a minute left).
	require.NoError(t, src.loadForTest())
	require.Equal(t, StateStale, src.Status().State)

	testHookStale = func() {
		testHookStale = nil
		// Meanwhile another caller's refresh runs and fails.
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = src.Token()
			for src.Status().Failures == 0 || src.busy.Load() {
				time.Sleep(time.Millisecond)
			}
		}()
		<-done
	}
	t.Cleanup(func() { testHookStale = nil })
	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, "AT-stale-xxxx", tok.AccessToken)
	require.NoError(t, src.Close()) // waits for any refresh started
	assert.Equal(t, int64(1), tokN.Load(), "a second token request inside the backoff")
}

// loadForTest loads the stored token without refreshing it.
func (s *TokenSource) loadForTest() error {
	s.mu.Lock()
	c := s.beginLocked()
	s.mu.Unlock()
	_, _, again := s.coldLoad(c, s.nowNanos())
	if again {
		return ErrTokenNotFound
	}
	return c.err
}

package redisstore_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// onTokenRequest runs fn once, before the first token request goes out.
type onTokenRequest struct {
	once sync.Once
	fn   func()
}

func (o *onTokenRequest) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/oauth/token") {
		o.once.Do(o.fn)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestRedisSentinelUnreplicatedRefreshIsServedAndSavedLater: behind a
// Sentinel, the replica stalls while a refresh is at UltraCart (the lock
// was acknowledged, the save of the rotated token cannot be). The save
// fails with ErrNotReplicated; the TokenSource keeps the new token,
// serves it, never refreshes again with the rotated-away one, and the
// token reaches the replica once it is back.
func TestRedisSentinelUnreplicatedRefreshIsServedAndSavedLater(t *testing.T) {
	sn := redistest.StartSentinel(t)
	ctx := t.Context()
	srv := ucoauthtest.NewServer()
	t.Cleanup(srv.Close)
	srv.SetRotation(true)
	srv.SetClock(func() time.Time { return time.Now().Add(-2 * time.Hour) })
	first := srv.Issue("m") // already expired: the first Token() refreshes
	srv.SetClock(time.Now)

	store := redisstore.New(sn.Client(t), redisstore.WithReplicaAcks(1, 200*time.Millisecond))
	require.NoError(t, store.Save(ctx, "m", first))
	t.Cleanup(sn.Replica.Thaw)
	stall := &onTokenRequest{fn: sn.Replica.Freeze}
	events := make(chan ucoauth.RefreshEvent, 16)
	src := ucoauth.NewTokenSource(srv.Config(), store, "m",
		ucoauth.WithHTTPClient(&http.Client{Transport: stall}),
		ucoauth.WithBackoff(20*time.Millisecond, 200*time.Millisecond),
		ucoauth.WithRefreshHook(func(e ucoauth.RefreshEvent) { events <- e }))
	t.Cleanup(func() { _ = src.Close() })

	tok, err := src.Token()
	require.NoError(t, err, "a token that is not yet durable is served")
	require.NotEqual(t, first.AccessToken, tok.AccessToken, "precondition: it refreshed")
	e := <-events
	require.ErrorIs(t, e.Err, redisstore.ErrNotReplicated, "the save was not acknowledged by a replica")
	var se *ucoauth.StoreError
	require.ErrorAs(t, e.Err, &se)
	assert.True(t, se.Temporary())

	for range 20 {
		again, err := src.Token()
		require.NoError(t, err)
		assert.Equal(t, tok.AccessToken, again.AccessToken, "the kept token is served")
	}
	assert.Equal(t, 1, srv.Stats().Refreshes(), "no second refresh with the rotated-away token")

	sn.Replica.Thaw()
	replica := sn.Replica.Client(t)
	require.Eventually(t, func() bool {
		rec, err := replica.Get(ctx, "ucoauth:{m}:token").Result()
		return err == nil && strings.Contains(rec, tok.RefreshToken)
	}, 20*time.Second, 20*time.Millisecond, "the new refresh token reaches the replica")
	assert.Zero(t, srv.Stats().InvalidGrant)
}

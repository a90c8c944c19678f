package fleet

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// WaiterAdopts checks, on store, that a TokenSource waiting for the refresh
// lock that another process holds (with an expired token stored) adopts
// the token the holder saves while it keeps the lock: without the lock
// and without a token request.
func WaiterAdopts(t *testing.T, store ucoauth.TokenStore) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetRotation(true)
	old := srv.Issue("DEMO")
	old.Expiry = time.Now().Add(-time.Minute) // expired: the source must refresh or adopt
	require.NoError(t, store.Save(t.Context(), "DEMO", old))

	unlock, err := store.(ucoauth.Locker).Lock(t.Context(), "DEMO") // the other process
	require.NoError(t, err)
	defer unlock()

	waiting := &lockEntered{TokenStore: store, entered: make(chan struct{})}
	cfg := srv.Config()
	// A refresh timeout long enough that the wait would not end on its
	// own during the test.
	src := ucoauth.NewTokenSource(cfg, waiting, "DEMO", ucoauth.WithRefreshTimeout(15*time.Second))
	defer src.Close()
	type result struct {
		tok string
		err error
	}
	got := make(chan result, 1)
	go func() {
		tok, err := src.TokenContext(context.Background())
		if err != nil {
			got <- result{err: err}
			return
		}
		got <- result{tok: tok.AccessToken}
	}()
	<-waiting.entered // the source looked, found the expired token, and waits for the lock

	fresh := srv.Issue("DEMO") // the holder's refresh, saved while it holds the lock
	require.NoError(t, store.Save(t.Context(), "DEMO", fresh))
	r := <-got
	require.NoError(t, r.err)
	assert.Equal(t, fresh.AccessToken, r.tok, "the waiter serves the holder's token")
	assert.Zero(t, srv.Stats().Refreshes(), "no token request: the holder's token was adopted")
}

// lockEntered is a store whose Lock says when it is first called, and then
// waits for the store's own lock.
type lockEntered struct {
	ucoauth.TokenStore
	once    sync.Once
	entered chan struct{}
}

func (l *lockEntered) Lock(ctx context.Context, key string) (func(), error) {
	l.once.Do(func() { close(l.entered) })
	return l.TokenStore.(ucoauth.Locker).Lock(ctx, key)
}

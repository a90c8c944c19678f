package ucoauth_test

import (
	"context"
	"errors"
	"sync"
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

// leaseStore is a Memory store whose leases a test can declare lost, and
// whose saves it can refuse.
type leaseStore struct {
	*tokenstore.Memory
	mu        sync.Mutex
	keepErr   func(n int) error // the n-th Keep's answer (from 1); nil: held
	keeps     int
	locks     atomic.Int32
	releases  atomic.Int32
	failSaves atomic.Bool
}

func newLeaseStore() *leaseStore { return &leaseStore{Memory: tokenstore.NewMemory()} }

var errRefused = errors.New("saves refused (test)")

func (l *leaseStore) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	if l.failSaves.Load() {
		return errRefused
	}
	return l.Memory.Save(ctx, key, tok)
}

func (l *leaseStore) LockLease(ctx context.Context, key string) (ucoauth.Lease, error) {
	inner, err := l.Memory.LockLease(ctx, key)
	if err != nil {
		return nil, err
	}
	l.locks.Add(1)
	return &testLease{inner: inner, l: l}, nil
}

func (l *leaseStore) setKeep(fn func(n int) error) {
	l.mu.Lock()
	l.keepErr, l.keeps = fn, 0
	l.mu.Unlock()
}

type testLease struct {
	inner ucoauth.Lease
	l     *leaseStore
	once  sync.Once
}

func (t *testLease) Keep(ctx context.Context) error {
	t.l.mu.Lock()
	t.l.keeps++
	fn, n := t.l.keepErr, t.l.keeps
	t.l.mu.Unlock()
	if fn != nil {
		if err := fn(n); err != nil {
			return err
		}
	}
	return t.inner.Keep(ctx)
}

func (t *testLease) Release() {
	t.once.Do(func() { t.l.releases.Add(1); t.inner.Release() })
}

func lostAt(which int) func(int) error {
	return func(n int) error {
		if n == which {
			return ucoauth.ErrLockLost
		}
		return nil
	}
}

func expiredSetup(t *testing.T, store ucoauth.TokenStore) *ucoauthtest.Server {
	srv := ucoauthtest.NewServer()
	t.Cleanup(srv.Close)
	srv.SetRotation(true)
	tok := srv.Issue("M")
	tok.Expiry = time.Now().Add(-time.Minute)
	require.NoError(t, store.Save(t.Context(), "M", tok))
	return srv
}

// A lock lost before the refresh token is presented: the refresh gives up
// with a temporary error matching ErrLockLost, and sends nothing.
func TestLockLostBeforeRefreshSendsNothing(t *testing.T) {
	store := newLeaseStore()
	srv := expiredSetup(t, store)
	store.setKeep(lostAt(1))
	src := ucoauth.NewTokenSource(srv.Config(), store, "M", ucoauth.WithBackoff(time.Millisecond, 2*time.Millisecond))
	defer src.Close()
	_, err := src.Token()
	require.ErrorIs(t, err, ucoauth.ErrLockLost)
	var se *ucoauth.StoreError
	require.ErrorAs(t, err, &se)
	assert.True(t, se.Temporary(), "a lost lock is retried")
	assert.Equal(t, "lock", se.Op)
	assert.Zero(t, srv.Stats().Refreshes(), "the refresh token was not presented")
	assert.Equal(t, store.locks.Load(), store.releases.Load(), "the lock was given back")

	// The retry path: the next attempt holds the lock and refreshes.
	require.Eventually(t, func() bool { _, err := src.Token(); return err == nil }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, 1, srv.Stats().Refreshes())
	assert.Zero(t, srv.Stats().InvalidGrant)
}

// A lock lost after UltraCart answered: the rotated token is saved all the
// same, and the event says the lock was lost.
func TestLockLostAfterRefreshStillSaves(t *testing.T) {
	store := newLeaseStore()
	srv := expiredSetup(t, store)
	store.setKeep(lostAt(2))
	var events []ucoauth.RefreshEvent
	var mu sync.Mutex
	src := ucoauth.NewTokenSource(srv.Config(), store, "M", ucoauth.WithRefreshHook(func(e ucoauth.RefreshEvent) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}))
	defer src.Close()
	tok, err := src.Token()
	require.NoError(t, err)
	stored, err := store.Load(t.Context(), "M")
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, stored.AccessToken, "saved, whatever the lock said")
	assert.Equal(t, tok.RefreshToken, stored.RefreshToken)
	// Reported once the token is live: after Token returned, maybe.
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(events) == 1 }, 10*time.Second, time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	assert.ErrorIs(t, events[0].Err, ucoauth.ErrLockLost, "reported")
}

// A save that keeps failing keeps the refresh lock until it lands, serving
// the unsaved token meanwhile; a lock lost meanwhile shows in Status and is
// taken again; another holder of the store waits all along.
func TestUnsavedTokenKeepsLock(t *testing.T) {
	store := newLeaseStore()
	srv := expiredSetup(t, store)
	store.failSaves.Store(true)
	src := ucoauth.NewTokenSource(srv.Config(), store, "M", ucoauth.WithBackoff(5*time.Millisecond, 20*time.Millisecond))
	defer src.Close()
	tok, err := src.Token()
	require.NoError(t, err, "the unsaved token is served")

	other := func() error { // another process's refresh, as far as the lock goes
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		unlock, err := store.Lock(ctx, "M")
		if err == nil {
			unlock()
		}
		return err
	}
	assert.ErrorIs(t, other(), context.DeadlineExceeded, "the lock is kept while the save fails")
	again, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, again.AccessToken)

	// The lock is lost: Status says so, with a typed error.
	store.setKeep(func(int) error { return ucoauth.ErrLockLost })
	require.Eventually(t, func() bool { return src.Status().State == ucoauth.StateLockLost }, 10*time.Second, time.Millisecond)
	assert.ErrorIs(t, src.Status().Err, ucoauth.ErrLockLost)
	// It is taken again; Status still says it was lost until the save lands.
	store.setKeep(nil)
	require.Eventually(t, func() bool { store.mu.Lock(); defer store.mu.Unlock(); return store.keeps > 0 }, 10*time.Second, time.Millisecond)
	assert.ErrorIs(t, other(), context.DeadlineExceeded, "held again")
	assert.Equal(t, ucoauth.StateLockLost, src.Status().State)

	// The save lands: the lock is released, the token stored.
	store.failSaves.Store(false)
	require.Eventually(t, func() bool { return store.locks.Load() == store.releases.Load() }, 10*time.Second, time.Millisecond)
	stored, err := store.Load(t.Context(), "M")
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, stored.AccessToken)
	assert.NoError(t, other())
	assert.Equal(t, ucoauth.StateFresh, src.Status().State)
	assert.Zero(t, srv.Stats().InvalidGrant)
}

// A source whose unsaved token goes stale refreshes under the lock its
// save's retry keeps, instead of waiting for it.
func TestUnsavedTokenRefreshesUnderKeptLock(t *testing.T) {
	store := newLeaseStore()
	srv := expiredSetup(t, store)
	srv.SetLifetime(2 * time.Second)
	store.failSaves.Store(true)
	src := ucoauth.NewTokenSource(srv.Config(), store, "M", ucoauth.WithEarlyRefresh(1900*time.Millisecond),
		ucoauth.WithBackoff(5*time.Millisecond, 20*time.Millisecond))
	defer src.Close()
	first, err := src.Token()
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		tok, err := src.Token()
		return err == nil && tok.AccessToken != first.AccessToken
	}, 10*time.Second, 5*time.Millisecond, "refreshed again while the first save still fails")
	assert.Equal(t, int32(1), store.locks.Load(), "under the one lock kept")
	store.failSaves.Store(false)
	require.Eventually(t, func() bool { return store.locks.Load() == store.releases.Load() }, 10*time.Second, time.Millisecond)
	stored, err := store.Load(t.Context(), "M")
	require.NoError(t, err)
	cur, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, cur.AccessToken, stored.AccessToken, "the newest token is the one stored")
	assert.Zero(t, srv.Stats().InvalidGrant)
}

// Revoke while a save of this source is being retried borrows the lock
// that retry keeps, instead of waiting for this very process to release
// it; the tombstone it leaves ends the retry, whose token is dropped.
func TestRevokeDuringASaveOutageBorrowsTheLock(t *testing.T) {
	store := newLeaseStore()
	srv := expiredSetup(t, store)
	store.failSaves.Store(true)
	src := ucoauth.NewTokenSource(srv.Config(), store, "M", ucoauth.WithBackoff(5*time.Millisecond, 20*time.Millisecond))
	defer src.Close()
	_, err := src.Token()
	require.NoError(t, err, "the unsaved token is served")
	require.Equal(t, int32(1), store.locks.Load(), "precondition: the retry keeps the refresh's lock")

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, src.Revoke(ctx), "Revoke borrows the lock its own save's retry keeps")
	assert.Equal(t, int32(1), store.locks.Load(), "no second lock was taken")
	_, err = store.Load(t.Context(), "M")
	assert.ErrorIs(t, err, ucoauth.ErrRevoked, "the tombstone is in the store")

	store.failSaves.Store(false)
	require.Eventually(t, func() bool { return store.locks.Load() == store.releases.Load() }, 10*time.Second, time.Millisecond,
		"the retry ends at the tombstone and releases the lock")
	_, err = store.Load(t.Context(), "M")
	assert.ErrorIs(t, err, ucoauth.ErrRevoked, "the unsaved token of the revoked grant never reached the store")
	_, err = src.Token()
	assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
}

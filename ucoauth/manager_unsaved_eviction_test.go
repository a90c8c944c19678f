package ucoauth_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// TestManagerKeepsAnIdleSourceWhoseSaveIsRetried: a Manager's source
// refreshed (rotation on) while the store refused saves, and nobody asked
// for it again. An idle sweep used to close it: its save's retry stopped,
// the lock it kept was released, and the rotated token, the merchant's only
// live refresh token, was lost with it; every process then refreshed from
// the stored, rotated-away one and met invalid_grant. An idle source with a
// save being retried is kept until the save lands.
func TestManagerKeepsAnIdleSourceWhoseSaveIsRetried(t *testing.T) {
	store := newLeaseStore()
	srv := expiredSetup(t, store)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	m := ucoauth.NewManager(srv.Config(), store, ucoauth.WithClock(clock), ucoauth.WithIdleTimeout(time.Minute),
		ucoauth.WithBackoff(5*time.Millisecond, 20*time.Millisecond))
	defer m.Close()

	store.failSaves.Store(true)
	src := m.Source("M")
	tok, err := src.Token()
	require.NoError(t, err, "the unsaved token is served")
	require.Equal(t, 1, srv.Stats().Refreshes())

	now.Add(int64(2 * time.Minute)) // idle past the timeout: Source sweeps
	again := m.Source("M")
	assert.True(t, src == again, "the source holding the only live refresh token was not evicted")
	assert.NotEqual(t, ucoauth.StateClosed, src.Status().State)

	// The store recovers: the retry saves the rotated token.
	store.failSaves.Store(false)
	require.Eventually(t, func() bool {
		stored, err := store.Load(t.Context(), "M")
		return err == nil && stored.AccessToken == tok.AccessToken
	}, 10*time.Second, time.Millisecond, "the rotated token reached the store")
	require.Eventually(t, func() bool { return store.locks.Load() == store.releases.Load() }, 10*time.Second, time.Millisecond)

	// Saved, it is an idle source like any other.
	now.Add(int64(2 * time.Minute))
	assert.True(t, src != m.Source("M"), "evicted once saved")
	assert.Zero(t, srv.Stats().InvalidGrant)
}

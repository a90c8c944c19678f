// Package storetest is a conformance suite for ucoauth.TokenStore
// implementations. Every store in package tokenstore passes it (memory,
// file, Redis, SQL, and Seal over them); run it against a store of your
// own to check that a TokenSource can rely on it. It checks
// the contract stated on ucoauth.TokenStore, including the hostile cases:
// keys that are not valid UTF-8, expiries too far out to be real and, when
// Harness.Plant is set, records of a newer format and corrupt records.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	require.NotNil(t, h.New, "Harness.New is required")
	if h.Peer == nil {
		h.Peer = func(_ *testing.T, s ucoauth.TokenStore) ucoauth.TokenStore { return s }
	}
	t.Run("LoadSaveDelete", func(t *testing.T) { testLoadSaveDelete(t, h) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, h) })
	t.Run("CopiesTokens", func(t *testing.T) { testCopies(t, h) })
	t.Run("NewerTokenWins", func(t *testing.T) { testNewerWins(t, h) })
	t.Run("KeepsRefreshToken", func(t *testing.T) { testKeepsRefresh(t, h) })
	t.Run("RejectsEmptyToken", func(t *testing.T) { testRejectsEmpty(t, h) })
	t.Run("ConcurrentSaves", func(t *testing.T) { testConcurrentSaves(t, h) })
	t.Run("OddKeys", func(t *testing.T) { testOddKeys(t, h) })
	t.Run("InvalidUTF8Keys", func(t *testing.T) { testInvalidUTF8Keys(t, h) })
	t.Run("UntrustedExpiry", func(t *testing.T) { testUntrustedExpiry(t, h) })
	t.Run("PlantedUntrustedExpiry", func(t *testing.T) { testPlantedUntrustedExpiry(t, h) })
	t.Run("NewerFormatKept", func(t *testing.T) { testNewerFormatKept(t, h) })
	t.Run("CorruptReplaced", func(t *testing.T) { testCorruptReplaced(t, h) })
	t.Run("LargeValues", func(t *testing.T) { testLargeValues(t, h) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, h) })
	t.Run("LockMutualExclusion", func(t *testing.T) { testLockExclusion(t, h) })
	t.Run("LockHonoursContext", func(t *testing.T) { testLockContext(t, h) })
	t.Run("LockExpiresWhenHolderDies", func(t *testing.T) { testLockExpiry(t, h) })
	runTombstones(t, h)
}

func testLoadSaveDelete(t *testing.T, h Harness) {
	s := h.New(t)
	tok := h.token("at-1", time.Now().Add(time.Hour))
	require.NoError(t, s.Save(ctx(t), "m1", tok))
	got, err := s.Load(ctx(t), "m1")
	require.NoError(t, err)
	requireSame(t, tok, got)

	got, err = h.Peer(t, s).Load(ctx(t), "m1")
	require.NoError(t, err, "a peer sees the saved token")
	requireSame(t, tok, got)

	require.NoError(t, s.Delete(ctx(t), "m1"))
	_, err = s.Load(ctx(t), "m1")
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
	assert.NoError(t, s.Delete(ctx(t), "m1"), "deleting a missing key is not an error")
}

func testNotFound(t *testing.T, h Harness) {
	s := h.New(t)
	tok, err := s.Load(ctx(t), "never-saved")
	assert.Nil(t, tok)
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
}

func testCopies(t *testing.T, h Harness) {
	s := h.New(t)
	tok := h.token("at-1", time.Now().Add(time.Hour))
	require.NoError(t, s.Save(ctx(t), "m", tok))
	tok.AccessToken = "changed-after-save"
	got, err := s.Load(ctx(t), "m")
	require.NoError(t, err)
	assert.Equal(t, "at-1", got.AccessToken, "Save must copy the token")
	got.AccessToken = "changed-after-load"
	again, err := s.Load(ctx(t), "m")
	require.NoError(t, err)
	assert.Equal(t, "at-1", again.AccessToken, "Load must hand out a copy")
}

func testNewerWins(t *testing.T, h Harness) {
	s := h.New(t)
	now := time.Now()
	newer := h.token("newer", now.Add(2*time.Hour))
	require.NoError(t, s.Save(ctx(t), "m", newer))
	err := s.Save(ctx(t), "m", h.token("older", now.Add(time.Hour)))
	assert.ErrorIs(t, err, ucoauth.ErrSuperseded)
	got, err := s.Load(ctx(t), "m")
	require.NoError(t, err)
	assert.Equal(t, "newer", got.AccessToken)

	same := h.token("newer", now.Add(2*time.Hour))
	assert.NoError(t, s.Save(ctx(t), "m", same), "saving the same token again is fine")
}

func testKeepsRefresh(t *testing.T, h Harness) {
	s := h.New(t)
	now := time.Now()
	require.NoError(t, s.Save(ctx(t), "m", h.token("first", now.Add(time.Hour))))
	next := h.token("second", now.Add(2*time.Hour))
	next.RefreshToken = ""
	require.NoError(t, s.Save(ctx(t), "m", next))
	got, err := s.Load(ctx(t), "m")
	require.NoError(t, err)
	assert.Equal(t, "second", got.AccessToken)
	assert.Equal(t, "rt-first", got.RefreshToken, "an empty refresh token must not replace a real one")
	assert.Equal(t, next.Extra("scope"), got.Extra("scope"))
	assert.Equal(t, ucoauth.ProviderExtras(next), ucoauth.ProviderExtras(got), "the new token's extras")
}

func testRejectsEmpty(t *testing.T, h Harness) {
	s := h.New(t)
	tok := h.token("good", time.Now().Add(time.Hour))
	require.NoError(t, s.Save(ctx(t), "m", tok))
	assert.Error(t, s.Save(ctx(t), "m", &oauth2.Token{Expiry: time.Now().Add(3 * time.Hour)}))
	assert.Error(t, s.Save(ctx(t), "m", nil))
	got, err := s.Load(ctx(t), "m")
	require.NoError(t, err)
	requireSame(t, tok, got)
}

func testConcurrentSaves(t *testing.T, h Harness) {
	s := h.New(t)
	peer := h.Peer(t, s)
	base := time.Now().Add(time.Hour)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			st := s
			if i%2 == 1 {
				st = peer
			}
			err := st.Save(ctx(t), "m", h.token(fmt.Sprintf("at-%02d", i), base.Add(time.Duration(i)*time.Second)))
			if err != nil && !errors.Is(err, ucoauth.ErrSuperseded) {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	got, err := s.Load(ctx(t), "m")
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("at-%02d", n-1), got.AccessToken, "the token that expires last must win")
	assert.Equal(t, fmt.Sprintf("rt-at-%02d", n-1), got.RefreshToken, "a record is never a mix of two saves")
}

// OddKeys are keys a store must keep apart and inside its namespace.
var OddKeys = []string{
	"../escape", "../../etc/passwd", "/abs/path", "a/b", `a\b`, ".", "..",
	"nul\x00byte", "sp ace", "tab\tand\nnewline", "ünïcödé-商人", "{hash}tag",
	"*", "?", "UPPER", "upper", strings.Repeat("k", 4096),
}

func testOddKeys(t *testing.T, h Harness) {
	s := h.New(t)
	exp := time.Now().Add(time.Hour)
	for i, k := range OddKeys {
		require.NoError(t, s.Save(ctx(t), k, h.token(fmt.Sprintf("at-%d", i), exp)), "key %q", k)
	}
	for i, k := range OddKeys {
		got, err := s.Load(ctx(t), k)
		require.NoError(t, err, "key %q", k)
		assert.Equal(t, fmt.Sprintf("at-%d", i), got.AccessToken, "key %q must not collide with another", k)
	}
	_, err := s.Load(ctx(t), "")
	assert.Error(t, err, "the empty key is refused")
	for _, k := range OddKeys {
		require.NoError(t, s.Delete(ctx(t), k))
	}
}

func testLargeValues(t *testing.T, h Harness) {
	s := h.New(t)
	tok := h.token(strings.Repeat("A", 64<<10), time.Now().Add(time.Hour))
	tok.RefreshToken = strings.Repeat("R", 64<<10)
	require.NoError(t, s.Save(ctx(t), "big", tok))
	got, err := s.Load(ctx(t), "big")
	require.NoError(t, err)
	requireSame(t, tok, got)
}

func testKeys(t *testing.T, h Harness) {
	s := h.New(t)
	l, ok := s.(ucoauth.Lister)
	if !ok {
		t.Skipf("%T is not a ucoauth.Lister", s)
	}
	keys, err := l.Keys(ctx(t))
	require.NoError(t, err)
	assert.Empty(t, keys, "a new store lists no keys")

	want := append([]string{"m1", "m2"}, OddKeys...)
	exp := time.Now().Add(time.Hour)
	for i, k := range want {
		require.NoError(t, s.Save(ctx(t), k, h.token(fmt.Sprintf("at-%d", i), exp)), "key %q", k)
	}
	keys, err = l.Keys(ctx(t))
	require.NoError(t, err)
	assert.ElementsMatch(t, want, keys, "every saved key, exactly, once each")

	require.NoError(t, s.Delete(ctx(t), "m1"))
	peerKeys, err := h.Peer(t, s).(ucoauth.Lister).Keys(ctx(t))
	require.NoError(t, err)
	assert.ElementsMatch(t, want[1:], peerKeys, "a deleted key is not listed, by any handle")
}

func locker(t *testing.T, s ucoauth.TokenStore) ucoauth.Locker {
	l, ok := s.(ucoauth.Locker)
	if !ok {
		t.Skipf("%T is not a ucoauth.Locker", s)
	}
	return l
}

func testLockExclusion(t *testing.T, h Harness) {
	s := h.New(t)
	handles := []ucoauth.Locker{locker(t, s), locker(t, h.Peer(t, s))}
	var inside, maxInside, total atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for range 5 {
				unlock, err := handles[i%2].Lock(ctx(t), "m")
				if !assert.NoError(t, err) {
					return
				}
				n := inside.Add(1)
				for {
					m := maxInside.Load()
					if n <= m || maxInside.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(100 * time.Microsecond)
				total.Add(1)
				inside.Add(-1)
				unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), maxInside.Load(), "two holders of one lock at once")
	assert.Equal(t, int32(80), total.Load())

	other, err := handles[0].Lock(ctx(t), "other-key")
	require.NoError(t, err)
	unlock, err := handles[1].Lock(ctx(t), "m")
	require.NoError(t, err, "different keys have different locks")
	unlock()
	other()
}

func testLockContext(t *testing.T, h Harness) {
	s := h.New(t)
	l := locker(t, s)
	unlock, err := l.Lock(ctx(t), "m")
	require.NoError(t, err)
	c, cancel := context.WithTimeout(ctx(t), 50*time.Millisecond)
	defer cancel()
	_, err = locker(t, h.Peer(t, s)).Lock(c, "m")
	assert.Error(t, err, "a held lock must not be granted twice")
	unlock()
	unlock() // twice is safe
	again, err := l.Lock(ctx(t), "m")
	require.NoError(t, err, "the lock is free after unlock")
	again()
}

func testLockExpiry(t *testing.T, h Harness) {
	if h.Abandon == nil {
		t.Skip("this store's locks die with their process")
	}
	s := h.New(t)
	peer := h.Peer(t, s)
	abandoned, err := locker(t, peer).Lock(ctx(t), "m")
	require.NoError(t, err)
	// A dead process never releases its lock; this one, once the test is
	// over, frees what the abandoned lock still holds here (a SQL store's
	// connection), so that nothing outlives the test.
	t.Cleanup(abandoned)
	h.Abandon(t, peer)
	c, cancel := context.WithTimeout(ctx(t), 10*h.LockTTL+5*time.Second)
	defer cancel()
	unlock, err := locker(t, s).Lock(c, "m")
	require.NoError(t, err, "a dead holder's lock must expire")
	unlock()
}

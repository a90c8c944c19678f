package ucoauth_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// envNotFoundChild makes this test binary a child process that saves
// childToken in the file store in that directory, and exits.
const envNotFoundChild = "UCOAUTH_NOTFOUND_CHILD_DIR"

// childToken is what the child process saves: fresh for an hour, so the
// parent serves it as loaded.
func childToken() *oauth2.Token {
	return &oauth2.Token{AccessToken: "at-from-another-process", RefreshToken: "rt-from-another-process",
		TokenType: "bearer", Expiry: time.Now().Add(time.Hour), ExpiresIn: 3600}
}

// fileStore is a file store in a new directory, behind a store that counts
// its calls.
func fileStore(t *testing.T) (*store, string) {
	dir := filepath.Join(t.TempDir(), "tokens")
	fs, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	return &store{TokenStore: fs}, dir
}

// TestMissingKeyIsReadOncePerLifetime: a Manager asked again and again for
// a merchant the store does not hold reads the store once per lifetime of
// its cache of missing keys, from one caller or many at once. A save
// through the Manager is seen at once, and so is one straight to the store
// followed by Forget; without either, it is not seen before the lifetime
// ends. With the cache off, every call reads.
func TestMissingKeyIsReadOncePerLifetime(t *testing.T) {
	f := newFixture(t, time.Hour)
	counted, _ := fileStore(t)
	// A lifetime longer than the test: every count below is exact.
	m := ucoauth.NewManager(f.cfg, counted, ucoauth.WithNotFoundCache(time.Hour, 0))
	defer m.Close()

	const n = 1000
	for range n {
		_, err := m.Source("nobody").Token()
		require.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range n / 8 {
				_, err := m.Source("nobody").Token()
				assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1, counted.loads.Load(), "store reads for %d Token() calls on a missing key", 2*n)
	assert.Equal(t, ucoauth.StateNotFound, m.Status("nobody").State)

	// A save through the Manager is seen at once.
	tok := f.srv.Issue("NOBODY")
	require.NoError(t, m.Save(t.Context(), "nobody", tok))
	got, err := m.Source("nobody").Token()
	require.NoError(t, err, "the save through the Manager was not seen")
	assert.Equal(t, tok.AccessToken, got.AccessToken)
	assert.EqualValues(t, 2, counted.loads.Load())

	// A save straight to the store is not seen while the entry lives...
	_, err = m.Source("later").Token()
	require.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
	later := f.srv.Issue("LATER")
	require.NoError(t, counted.TokenStore.Save(t.Context(), "later", later))
	_, err = m.Source("later").Token()
	require.ErrorIs(t, err, ucoauth.ErrTokenNotFound, "the entry lives for an hour here")
	// ...and at once after Forget, as after a login.
	m.Forget("later")
	got, err = m.Source("later").Token()
	require.NoError(t, err)
	assert.Equal(t, later.AccessToken, got.AccessToken)

	// Turned off, every call reads.
	off, _ := fileStore(t)
	m2 := ucoauth.NewManager(f.cfg, off, ucoauth.WithNotFoundCache(0, 0))
	defer m2.Close()
	for range 100 {
		_, err := m2.Source("nobody").Token()
		require.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
	}
	assert.EqualValues(t, 100, off.loads.Load())
}

// TestMissingKeySavedByAnotherProcessIsSeenWithinTheLifetime: on the real
// clock and the default lifetime (1 s), a merchant that another OS process
// saves is served by the Manager once the lifetime of the entry ends,
// and meanwhile the store is read about once per lifetime.
func TestMissingKeySavedByAnotherProcessIsSeenWithinTheLifetime(t *testing.T) {
	if dir := os.Getenv(envNotFoundChild); dir != "" {
		fs, err := tokenstore.NewFile(dir)
		require.NoError(t, err)
		require.NoError(t, fs.Save(t.Context(), "later", childToken()))
		return
	}
	f := newFixture(t, time.Hour)
	counted, dir := fileStore(t)
	m := ucoauth.NewManager(f.cfg, counted)
	defer m.Close()
	_, err := m.Source("later").Token()
	require.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
	require.EqualValues(t, 1, counted.loads.Load())

	// Ask all along, from before the other process starts until its
	// token is served.
	start := time.Now()
	calls := 0
	var got *oauth2.Token
	seen := make(chan struct{})
	go func() {
		defer close(seen)
		for time.Since(start) < time.Minute {
			calls++
			if got, err = m.Source("later").Token(); err == nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMissingKeySavedByAnotherProcessIsSeenWithinTheLifetime$")
	cmd.Env = append(os.Environ(), envNotFoundChild+"="+dir)
	out, cerr := cmd.CombinedOutput()
	require.NoError(t, cerr, "the child process: %s", out)
	saved := time.Now()
	<-seen
	elapsed := time.Since(start)
	require.NoError(t, err, "the other process's save was never seen")
	assert.Equal(t, "at-from-another-process", got.AccessToken)
	reads := int(counted.loads.Load()) - 1
	t.Logf("%d calls over %v (the child saved after %v, seen %v later): %d store reads",
		calls, elapsed, saved.Sub(start), elapsed-saved.Sub(start), reads)
	// Not a speed limit: bounds for however long it took.
	assert.LessOrEqual(t, reads, int(elapsed/ucoauth.DefaultNotFoundTTL)+2, "store reads while the key was missing")
	assert.Greater(t, calls, reads, "calls that did not read the store")
}

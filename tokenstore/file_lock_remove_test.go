package tokenstore_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
)

// TestFileRemoveLockKeepsTheLockExclusive: RemoveLock unlinks a key's lock
// file while lockers wait on it, again and again. Each File is its own open
// file description, as another process's would be, so flock contends
// between them. Never do two hold the lock at once: a waiter that got the
// lock on an unlinked file lets it go and locks the new one.
func TestFileRemoveLockKeepsTheLockExclusive(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var holders, maxHolders, entries atomic.Int32
	var wg sync.WaitGroup
	const lockers, rounds = 6, 100
	for range lockers {
		f, err := tokenstore.NewFile(dir)
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				unlock, err := f.Lock(ctx, "M1")
				if !assert.NoError(t, err) {
					return
				}
				n := holders.Add(1)
				for m := maxHolders.Load(); n > m && !maxHolders.CompareAndSwap(m, n); m = maxHolders.Load() {
				}
				time.Sleep(100 * time.Microsecond) // others queue up on the file meanwhile
				entries.Add(1)
				holders.Add(-1)
				unlock()
			}
		}()
	}
	remover, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	done := make(chan struct{})
	var removals atomic.Int32
	go func() {
		defer close(done)
		for entries.Load() < lockers*rounds {
			if assert.NoError(t, remover.RemoveLock(ctx, "M1")) {
				removals.Add(1)
			}
		}
	}()
	wg.Wait()
	<-done
	assert.Equal(t, int32(1), maxHolders.Load(), "one holder at a time, through %d removals", removals.Load())
	assert.Equal(t, int32(lockers*rounds), entries.Load())

	require.NoError(t, remover.RemoveLock(ctx, "M1"))
	locks, err := filepath.Glob(filepath.Join(dir, "m1.*.lock"))
	require.NoError(t, err)
	assert.Empty(t, locks, "the lock file is gone once nobody holds it")
	require.NoError(t, remover.RemoveLock(ctx, "M1"), "removing a missing lock file is no error")
}

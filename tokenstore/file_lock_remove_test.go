package tokenstore_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

const envRemoveLockChild = "UCOAUTH_FILE_LOCK_CHILD" // "dir,role" (role: lock or remove)

// TestFileRemoveLockAcrossProcesses: the same, with OS processes: 3 lock
// M1 over and over, each holding it while a marker file exists (created
// O_EXCL: a second holder could not create it), while a fourth removes the
// lock file in a loop.
func TestFileRemoveLockAcrossProcesses(t *testing.T) {
	if v := os.Getenv(envRemoveLockChild); v != "" {
		fileLockChild(t, v)
		return
	}
	dir := t.TempDir()
	_, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	child := func(role string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFileRemoveLockAcrossProcesses$")
		cmd.Env = append(os.Environ(), envRemoveLockChild+"="+dir+","+role)
		return cmd
	}
	remover := child("remove")
	var rout bytes.Buffer
	remover.Stdout, remover.Stderr = &rout, &rout
	require.NoError(t, remover.Start())
	var wg sync.WaitGroup
	for i := range 3 {
		cmd := child("lock")
		wg.Go(func() {
			out, err := cmd.CombinedOutput()
			assert.NoError(t, err, "locker %d: %s", i, out)
		})
	}
	wg.Wait()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stop"), nil, 0o600))
	assert.NoError(t, remover.Wait(), "remover: %s", rout.String())
	n, _ := os.ReadFile(filepath.Join(dir, "removals"))
	t.Logf("lock file removals: %s", n)
}

func fileLockChild(t *testing.T, spec string) {
	dir, role, _ := strings.Cut(spec, ",")
	f, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	ctx := context.Background()
	if role == "remove" {
		n := 0
		for {
			if _, err := os.Stat(filepath.Join(dir, "stop")); err == nil {
				break
			}
			require.NoError(t, f.RemoveLock(ctx, "M1"))
			n++
			time.Sleep(50 * time.Microsecond) // leave the lockers some CPU
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, "removals"), []byte(strconv.Itoa(n)), 0o600))
		return
	}
	marker := filepath.Join(dir, "holder")
	for j := range 150 {
		unlock, err := f.Lock(ctx, "M1")
		require.NoError(t, err)
		m, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		require.NoError(t, err, "round %d: another process holds the lock too", j)
		m.Close()
		time.Sleep(100 * time.Microsecond)
		require.NoError(t, os.Remove(marker))
		unlock()
	}
}

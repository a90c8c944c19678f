package tokenstore

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/gofrs/flock"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// memLease is a held Memory lock.
type memLease struct {
	once     sync.Once
	mu       sync.Mutex
	released bool
	release  func()
}

func (l *memLease) Keep(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return fmt.Errorf("tokenstore: memory: %w: released", ucoauth.ErrLockLost)
	}
	return nil
}

func (l *memLease) Release() {
	l.once.Do(func() {
		l.mu.Lock()
		l.released = true
		l.mu.Unlock()
		l.release()
	})
}

// fileLease is a held File lock: an OS lock on an open lock file.
type fileLease struct {
	l    *flock.Flock
	path string
	once sync.Once
}

// Keep checks that the file locked is still the one at the lock's path.
func (l *fileLease) Keep(context.Context) error {
	if !l.l.Locked() {
		return fmt.Errorf("tokenstore: file: %w: released", ucoauth.ErrLockLost)
	}
	held, err := l.l.Stat()
	if err != nil {
		return fmt.Errorf("tokenstore: file: %w: %w", ucoauth.ErrLockLost, err)
	}
	now, err := os.Lstat(l.path)
	if err != nil || !os.SameFile(held, now) {
		return fmt.Errorf("tokenstore: file: %w: the lock file was removed or replaced", ucoauth.ErrLockLost)
	}
	return nil
}

func (l *fileLease) Release() { l.once.Do(func() { _ = l.l.Unlock() }) }

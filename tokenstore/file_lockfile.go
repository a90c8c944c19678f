package tokenstore

// OS file locks for the File store. Files depend one way: file.go uses
// this file, which uses the platform files (file_unix.go, file_other.go),
// which use only format.go (ErrUnsafePath).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// lockedCurrent reports whether the file l holds locked is still the one
// path names. RemoveLock unlinks a lock file while holding it; a process
// that was waiting on it then holds a lock on a file nobody else can open,
// and must let it go and lock the path anew, or two processes would hold
// the key's lock at once.
func lockedCurrent(l *flock.Flock, path string) bool {
	held, err := l.Stat()
	if err != nil {
		return false
	}
	named, err := os.Lstat(path)
	return err == nil && os.SameFile(held, named)
}

// lockPoll is how often a blocked Lock retries. OS file locks cannot be
// waited on with a deadline, so the wait is a poll.
const lockPoll = 5 * time.Millisecond

// lockFile takes an OS lock on path, creating it 0600 if needed but never
// through a symbolic link.
//
// The lock held is the one on the file path names once it is held: a lock
// taken on a file that RemoveLock unlinked meanwhile is let go, and the
// path tried again (see lockedCurrent).
func lockFile(ctx context.Context, path string) (func(), error) {
	l, err := flockFile(ctx, path)
	if err != nil {
		return nil, err
	}
	return func() { _ = l.Unlock() }, nil
}

// flockFile is lockFile, returning the held lock.
func flockFile(ctx context.Context, path string) (*flock.Flock, error) {
	for {
		l := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR|oNoFollow), flock.SetPermissions(0o600))
		ok, err := l.TryLockContext(ctx, lockPoll)
		if err != nil || !ok {
			_ = l.Close()
			if isSymlinkErr(err) {
				return nil, fmt.Errorf("%w: lock file %s is a symbolic link", ErrUnsafePath, path)
			}
			if err == nil {
				err = ctx.Err()
			}
			return nil, fmt.Errorf("tokenstore: locking %s: %w", filepath.Base(path), err)
		}
		if lockedCurrent(l, path) {
			return l, nil
		}
		_ = l.Unlock()
	}
}

// tryLockFile takes the lock on path if it is free now.
func tryLockFile(path string) (unlock func(), ok bool, err error) {
	l := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR|oNoFollow), flock.SetPermissions(0o600))
	ok, err = l.TryLock()
	if err != nil || !ok {
		_ = l.Close()
		if isSymlinkErr(err) {
			return nil, false, fmt.Errorf("%w: lock file %s is a symbolic link", ErrUnsafePath, path)
		}
		if err != nil {
			return nil, false, fmt.Errorf("tokenstore: locking %s: %w", filepath.Base(path), err)
		}
		return nil, false, nil
	}
	if !lockedCurrent(l, path) {
		_ = l.Unlock()
		return nil, false, nil
	}
	return func() { _ = l.Unlock() }, true, nil
}

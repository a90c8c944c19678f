package tokenstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/gofrs/flock"
	"github.com/ucoauth/go-ucoauth/internal/tokenfile"
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

// RemoveLock removes key's lock file (KEY.lock), which Lock creates and
// leaves behind, once nobody holds it: it waits for the lock (ctx bounds the
// wait), then unlinks the file while holding it. A process of this version
// waiting on the file meanwhile notices that it was unlinked and locks a
// new one, so the lock stays exclusive. A process of a version before this
// one does not notice: remove lock files only when every process sharing the
// directory runs this version or later. The token file is not touched;
// remove it first (Delete), or the next Lock creates the lock file again.
//
// On Windows it does nothing: a file held open there cannot be unlinked.
func (f *File) RemoveLock(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	path := tokenfile.Lock(f.dir, key)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	unlock, err := lockFile(ctx, path)
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("tokenstore: removing lock file %s: %w", filepath.Base(path), err)
	}
	return nil
}

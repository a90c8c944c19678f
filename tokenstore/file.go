package tokenstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/ucoauth/go-ucoauth/internal/tokenfile"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// File is a TokenStore and Locker keeping one JSON file per key in a
// directory. Processes on one host can share the directory: refreshes are
// serialized with OS file locks, which the OS releases when a process dies,
// and files are replaced atomically, so a reader never sees half a token.
//
// Create it with NewFile; the zero value is not usable. Files are created
// 0600 inside a 0700 directory. A key's file is named by a readable,
// lower-case rendering of the key (at most 64 characters of [a-z0-9_-])
// followed by a hash of the exact key: "../" and "/" cannot escape the
// directory, NUL and very long keys are fine, and keys differing only in
// case stay apart on case-insensitive file systems.
//
// The store never follows a symbolic link inside its directory: a token or
// lock file that is one, or anything but a regular file, is refused with an
// error matching ErrUnsafePath, and nothing is read through it, written
// through it or created where it points. A token file that others may read
// is tightened to 0600 when it is read. On Unix, a directory or token file
// owned by another user is refused too (ErrUnsafePath), even when running
// as root: its owner could rewrite it.
type File struct {
	dir string
}

var (
	_ ucoauth.TokenStore  = (*File)(nil)
	_ ucoauth.Locker      = (*File)(nil)
	_ ucoauth.LeaseLocker = (*File)(nil)
	_ ucoauth.Lister      = (*File)(nil)
	_ ucoauth.Tombstoner  = (*File)(nil)
)

// maxFileSize bounds what is read from a token file. A real record is a few
// kilobytes; a bigger file is corrupt, not a reason to exhaust memory.
const maxFileSize = 4 << 20

// tempPrefix starts the names of the files an atomic write goes through.
const tempPrefix = ".tmp-"

// NewFile returns a store in dir, creating it with mode 0700 if needed and
// tightening the mode of an existing directory to 0700.
//
// dir itself must not be a symbolic link (ErrUnsafePath): the store would
// chmod and write wherever it points. Links among its parents, such as
// /var on macOS, are the parents' owners' business and are followed.
//
// Temporary files left by writers that were killed mid-write hold whole
// tokens; NewFile removes them, unless another process is writing at that
// moment, in which case the next NewFile does.
func NewFile(dir string) (*File, error) {
	if dir == "" {
		return nil, errors.New("tokenstore: NewFile needs a directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("tokenstore: %w", err)
	}
	if _, err := os.Lstat(abs); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return nil, fmt.Errorf("tokenstore: creating token directory: %w", err)
		}
	}
	if err := secureDir(abs); err != nil {
		return nil, err
	}
	f := &File{dir: abs}
	if err := f.removeStaleTemps(); err != nil {
		return nil, err
	}
	return f, nil
}

// path returns the file that holds key's token; see File for its name.
func (f *File) path(key string) string { return tokenfile.Token(f.dir, key) }

// Load returns the token for key, or an error matching
// ucoauth.ErrTokenNotFound, or one matching ErrCorrupt.
func (f *File) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return f.load(key)
}

func (f *File) load(key string) (*oauth2.Token, error) {
	b, err := readRecord(f.path(key))
	if err != nil {
		return nil, err
	}
	tok, err := unmarshal(key, b)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, f.path(key))
	}
	return tok, nil
}

// readRecord reads a token file without following a symbolic link,
// tightening a loose mode first. A missing file is ucoauth.ErrTokenNotFound.
func readRecord(path string) ([]byte, error) {
	fh, err := openNoFollow(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ucoauth.ErrTokenNotFound
	}
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("tokenstore: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file (%v)", ErrUnsafePath, path, fi.Mode().Type())
	}
	if err := checkOwner(path, fi); err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := fh.Chmod(0o600); err != nil {
			return nil, fmt.Errorf("%w: %s has mode %v, open to others, and cannot be tightened: %w", ErrUnsafePath, path, fi.Mode().Perm(), err)
		}
	}
	b, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("tokenstore: %w", err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrCorrupt, path, maxFileSize)
	}
	return b, nil
}

// Save atomically replaces key's file with tok. It refuses a token that
// expires before the stored one (ucoauth.ErrSuperseded), keeps the stored
// refresh token when tok has none, never overwrites a record of a newer
// format (ErrNewerFormat), and replaces a corrupt file only with a real
// token.
func (f *File) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	_, err := f.saveChecked(ctx, key, tok, nil)
	return err
}

// saveChecked is Save, running check (when not nil) on the stored record
// under the write lock first; see checkedSaver.
func (f *File) saveChecked(ctx context.Context, key string, tok *oauth2.Token, check func(string, []byte) error) (written []byte, err error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	err = f.withWriteLock(ctx, func() error {
		old, err := readRecord(f.path(key))
		switch {
		case errors.Is(err, ucoauth.ErrTokenNotFound), errors.Is(err, ErrCorrupt):
			old = nil // nothing, or too big to be a record: tok replaces it
		case err != nil:
			return err
		}
		if check != nil {
			if err := check(key, old); err != nil {
				return fmt.Errorf("%w (file %s)", err, f.path(key))
			}
		}
		b, err := encodeOverRaw(key, old, tok)
		if err != nil {
			return fmt.Errorf("%w (file %s)", err, f.path(key))
		}
		if err := writeAtomic(f.dir, f.path(key), b); err != nil {
			return err
		}
		written = b
		return nil
	})
	return written, err
}

// Keys returns every key that holds a token. File names hold only a digest
// of the key, so each record is read for the key it names; a record that
// cannot be read is an error matching ErrCorrupt. Tombstones are not
// listed, and those that expired are removed (see TombstoneRetention).
func (f *File) Keys(ctx context.Context) ([]string, error) {
	names, err := filepath.Glob(filepath.Join(f.dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("tokenstore: %w", err)
	}
	keys := make([]string, 0, len(names))
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := readRecord(name)
		if errors.Is(err, ucoauth.ErrTokenNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		key, err := recordKey(b)
		if err != nil {
			return nil, fmt.Errorf("%w (file %s)", err, name)
		}
		if f.path(key) != name {
			continue
		}
		switch token, expired := recordState(key, b, time.Now()); {
		case token:
			keys = append(keys, key)
		case expired:
			if err := f.pruneTombstone(ctx, key, b); err != nil {
				return nil, err
			}
		}
	}
	return keys, nil
}

// Delete removes key's file.
func (f *File) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return f.withWriteLock(ctx, func() error {
		if err := os.Remove(f.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("tokenstore: %w", err)
		}
		return syncDir(f.dir)
	})
}

// Lock takes key's refresh lock, shared by every process using the
// directory. The OS releases it if the holding process dies.
func (f *File) Lock(ctx context.Context, key string) (func(), error) {
	l, err := f.LockLease(ctx, key)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// LockLease is Lock, returning the held lock. Keep checks that the lock
// file is still the one locked: one removed or replaced meanwhile (by hand,
// or a cleanup) would let another process lock a new file.
func (f *File) LockLease(ctx context.Context, key string) (ucoauth.Lease, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	path := tokenfile.Lock(f.dir, key)
	l, err := flockFile(ctx, path)
	if err != nil {
		return nil, err
	}
	return &fileLease{l: l, path: path}, nil
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

// writeLockName is the file whose lock every writer holds.
const writeLockName = ".write.lock"

// withWriteLock runs fn holding the directory's write lock, which makes a
// Save's read-compare-replace atomic across processes. It is separate from
// the refresh locks, which are held across a whole refresh that ends in a
// Save.
func (f *File) withWriteLock(ctx context.Context, fn func() error) error {
	unlock, err := lockFile(ctx, filepath.Join(f.dir, writeLockName))
	if err != nil {
		return err
	}
	defer unlock()
	return fn()
}

// removeStaleTemps removes the temporary files of writers that died
// mid-write. Every writer holds the write lock while its temporary file
// exists, so under that lock each one left is stale. When another process
// holds the lock, cleaning waits for another NewFile.
func (f *File) removeStaleTemps() error {
	unlock, ok, err := tryLockFile(filepath.Join(f.dir, writeLockName))
	if err != nil || !ok {
		return err
	}
	defer unlock()
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return fmt.Errorf("tokenstore: %w", err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		// Remove unlinks a symbolic link itself, never its target.
		if err := os.Remove(filepath.Join(f.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("tokenstore: removing a stale temporary file: %w", err)
		}
	}
	return syncDir(f.dir)
}

// writeAtomic writes b to a temporary file in dir, syncs it, renames it over
// path and syncs the directory: a crash leaves the old file or the new one,
// never a mix.
func writeAtomic(dir, path string, b []byte) (err error) {
	tmp, err := os.CreateTemp(dir, tempPrefix+"*") // O_EXCL: never through a link
	if err != nil {
		return fmt.Errorf("tokenstore: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("tokenstore: %w", err)
	}
	if _, err = tmp.Write(b); err != nil {
		return fmt.Errorf("tokenstore: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("tokenstore: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("tokenstore: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("tokenstore: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("tokenstore: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("tokenstore: syncing directory: %w", err)
	}
	return nil
}

// Tombstone replaces key's file with a tombstone; see ucoauth.Tombstoner.
func (f *File) Tombstone(ctx context.Context, key string, grants ...string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return f.withWriteLock(ctx, func() error {
		old, err := readRecord(f.path(key))
		switch {
		case errors.Is(err, ucoauth.ErrTokenNotFound), errors.Is(err, ErrCorrupt):
			old = nil
		case err != nil:
			return err
		}
		b, err := encodeTombstone(key, old, grants, time.Now())
		if err != nil {
			return fmt.Errorf("%w (file %s)", err, f.path(key))
		}
		return writeAtomic(f.dir, f.path(key), b)
	})
}

// pruneTombstone removes key's expired tombstone, if the file still holds
// exactly the one Keys read.
func (f *File) pruneTombstone(ctx context.Context, key string, seen []byte) error {
	return f.withWriteLock(ctx, func() error {
		b, err := readRecord(f.path(key))
		if err != nil || string(b) != string(seen) {
			return nil // gone or replaced meanwhile
		}
		if err := os.Remove(f.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("tokenstore: %w", err)
		}
		return syncDir(f.dir)
	})
}

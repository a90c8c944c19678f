//go:build unix

package tokenstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// oNoFollow makes an open fail on a symbolic link instead of following it.
const oNoFollow = syscall.O_NOFOLLOW

// isSymlinkErr reports whether an open with oNoFollow failed because the
// path is a symbolic link: ELOOP, or EMLINK on FreeBSD and NetBSD.
func isSymlinkErr(err error) bool {
	return errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK)
}

// openNoFollow opens path without following a final symbolic link.
// O_NONBLOCK keeps a planted FIFO from blocking the open; it changes nothing
// for a regular file.
func openNoFollow(path string, flag int, perm os.FileMode) (*os.File, error) {
	fh, err := os.OpenFile(path, flag|oNoFollow|syscall.O_NONBLOCK, perm)
	if isSymlinkErr(err) {
		return nil, fmt.Errorf("%w: %s is a symbolic link", ErrUnsafePath, path)
	}
	return fh, err
}

// secureDir checks that dir is a directory and not a symbolic link, and
// sets its mode to 0700, on one file descriptor so that nothing can be
// swapped in between.
func secureDir(dir string) error {
	d, err := os.OpenFile(dir, os.O_RDONLY|oNoFollow|syscall.O_DIRECTORY, 0)
	if errors.Is(err, syscall.ENOTDIR) {
		// Linux says ENOTDIR, not ELOOP, for a link with O_DIRECTORY.
		if fi, lerr := os.Lstat(dir); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			err = syscall.ELOOP
		}
	}
	switch {
	case isSymlinkErr(err):
		return fmt.Errorf("%w: token directory %s is a symbolic link; give the directory it points to", ErrUnsafePath, dir)
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%w: token directory %s is not a directory", ErrUnsafePath, dir)
	case err != nil:
		return fmt.Errorf("tokenstore: opening token directory: %w", err)
	}
	defer d.Close()
	fi, err := d.Stat()
	if err != nil {
		return fmt.Errorf("tokenstore: opening token directory: %w", err)
	}
	if err := checkOwner(dir, fi); err != nil {
		return err
	}
	if err := d.Chmod(0o700); err != nil {
		return fmt.Errorf("tokenstore: securing token directory: %w", err)
	}
	return nil
}

// checkOwner refuses a path another user owns: its owner can rewrite it
// whatever its mode (and chmod a directory open again), so a token read
// from it may be theirs. Root would otherwise tighten it and carry on.
func checkOwner(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Geteuid(); int64(st.Uid) != int64(uid) {
		return fmt.Errorf("%w: %s is owned by user %d, not by this process's user %d", ErrUnsafePath, path, st.Uid, uid)
	}
	return nil
}

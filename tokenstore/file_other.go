//go:build !unix

package tokenstore

import (
	"fmt"
	"io/fs"
	"os"
)

// oNoFollow is not available here; openNoFollow checks with Lstat instead.
const oNoFollow = 0

// isSymlinkErr is false where opens cannot refuse links themselves.
func isSymlinkErr(error) bool { return false }

// openNoFollow refuses a symbolic link found by Lstat, then opens path.
// Without O_NOFOLLOW a link swapped in between is not caught.
func openNoFollow(path string, flag int, perm os.FileMode) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("%w: %s is a symbolic link", ErrUnsafePath, path)
	}
	return os.OpenFile(path, flag, perm)
}

// secureDir checks that dir is a directory and not a symbolic link, and
// sets its mode to 0700.
func secureDir(dir string) error {
	fi, err := os.Lstat(dir)
	switch {
	case err != nil:
		return fmt.Errorf("tokenstore: opening token directory: %w", err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%w: token directory %s is a symbolic link; give the directory it points to", ErrUnsafePath, dir)
	case !fi.IsDir():
		return fmt.Errorf("%w: token directory %s is not a directory", ErrUnsafePath, dir)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("tokenstore: securing token directory: %w", err)
	}
	return nil
}

// checkOwner cannot compare owners here.
func checkOwner(string, fs.FileInfo) error { return nil }

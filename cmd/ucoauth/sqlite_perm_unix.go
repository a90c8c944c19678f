//go:build unix

package main

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkSQLiteOwner refuses a database or sidecar another user owns, as the
// file store refuses its files: the owner reads every token written to it,
// whatever its mode (root's chmod 600 leaves it theirs, and a descriptor
// opened before stays open).
func checkSQLiteOwner(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Geteuid(); int64(st.Uid) != int64(uid) {
		return fmt.Errorf("the SQLite store's %s is owned by user %d, not by this process's user %d: refused, its owner could read the tokens (remove it, or name another file)", path, st.Uid, uid)
	}
	return nil
}

// openNoFollowCreate creates path 0600, failing if it exists (fs.ErrExist)
// and never through a symbolic link.
func openNoFollowCreate(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW, 0o600)
}

// privateUmask makes the files created until restore is called private to
// this user (umask 077), whatever the shell's umask: SQLite creates its
// -wal, -shm and -journal files when it first writes.
func privateUmask() (restore func()) {
	old := syscall.Umask(0o077)
	return func() { syscall.Umask(old) }
}

//go:build unix

package main

import (
	"os"
	"syscall"
)

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

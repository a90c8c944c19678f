//go:build !unix

package main

import (
	"io/fs"
	"os"
)

// checkSQLiteOwner has no owner to check here.
func checkSQLiteOwner(string, fs.FileInfo) error { return nil }

// openNoFollowCreate creates path 0600, failing if it exists (fs.ErrExist).
func openNoFollowCreate(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
}

// privateUmask does nothing where there is no umask.
func privateUmask() (restore func()) { return func() {} }

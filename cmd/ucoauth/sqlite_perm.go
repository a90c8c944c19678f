package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// The files SQLite keeps beside a database: the write-ahead log and its
// shared-memory index (WAL mode, which the command sets), and the rollback
// journal (while it switches modes, or in another program's hands).
var sqliteSidecars = []string{"-wal", "-shm", "-journal"}

// prepareSQLite makes a new SQLite database private before SQLite touches
// it, as the file store does its files: a missing directory is created 0700,
// a missing database file 0600 (an empty file is an empty database). An
// existing file that others can read is left as it is, with a warning: it
// may be shared on purpose, and it holds the tokens in clear unless sealed.
func prepareSQLite(path string, warn io.Writer) error {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating the SQLite store's directory: %w", err)
		}
	} else if err == nil {
		if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
			fmt.Fprintf(warn, "warning: others can write to %s, which holds the SQLite token store: they could replace it (chmod 700 %s)\n", dir, dir)
		}
	}
	f, err := openNoFollowCreate(path)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("creating the SQLite store: %w", err)
	}
	// A new database's sidecars are checked too: one planted beside it
	// (a link, another user's file) would be opened and written to.
	shared := false
	for _, name := range append([]string{""}, sqliteSidecars...) {
		fi, err := os.Lstat(path + name)
		if err != nil {
			continue
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("the SQLite store %s is a symbolic link: name the file it points to", path+name)
		}
		if err := checkSQLiteOwner(path+name, fi); err != nil {
			return err
		}
		if name == "" {
			shared = fi.Mode().Perm()&0o077 != 0
		}
		// Beside a private database, secureSQLite tightens a sidecar.
		if shared && fi.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(warn, "warning: %s has mode %v: others can read the tokens in it (chmod 600 %s)\n", path+name, fi.Mode().Perm(), path+name)
		}
	}
	return nil
}

// secureSQLite runs after the store's first write (the table's creation):
// SQLite has created its -wal and -shm files by then, with the database's
// mode. A sidecar open to others beside a private database is tightened;
// one that cannot be is an error, as the file store's would be.
func secureSQLite(path string) error {
	db, err := os.Lstat(path)
	if err != nil || db.Mode().Perm()&0o077 != 0 {
		return nil // an existing shared database: warned about already
	}
	for _, s := range sqliteSidecars {
		fi, err := os.Lstat(path + s)
		if err != nil {
			continue
		}
		// Checked before SQLite opened it too; this catches a swap since.
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("the SQLite store's %s is a symbolic link", path+s)
		}
		if err := checkSQLiteOwner(path+s, fi); err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(path+s, 0o600); err != nil {
			return fmt.Errorf("the SQLite store's %s has mode %v, open to others, and cannot be tightened: %w", path+s, fi.Mode().Perm(), err)
		}
	}
	return nil
}

//go:build unix

package main_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nobody is a user id the tests' files are given to, as another user's.
const nobody = 65534

// plantForeign creates path as another user's file, open to all, as a user
// who can write to the directory (a shared one, /tmp) would plant it.
func plantForeign(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("giving a file to another user takes root")
	}
	require.NoError(t, os.WriteFile(path, nil, 0o666))
	require.NoError(t, os.Chmod(path, 0o666))
	require.NoError(t, os.Chown(path, nobody, nobody))
}

// TestSQLiteStoreOwnedByAnotherUserIsRefused: a database, or a -wal, -shm
// or -journal beside one, that another user owns is refused, as the file
// store refuses such files: its owner reads every token written to it
// whatever its mode. The database was only warned about and written to; a
// sidecar planted beside a new database was not looked at (and, as root,
// chmod 600 left it its owner's).
func TestSQLiteStoreOwnedByAnotherUserIsRefused(t *testing.T) {
	withUmask022(t)
	f := startFake(t)
	for _, s := range []string{"", "-wal", "-shm", "-journal"} {
		t.Run("planted"+s, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "tokens.db")
			plantForeign(t, db+s)
			r := runCmd(t, sqliteEnv(f, db), "status")
			assert.Equal(t, 1, r.code, "stderr: %s", r.stderr)
			assert.Contains(t, r.stderr, db+s+" is owned by user 65534")
			fi, err := os.Stat(db + s)
			require.NoError(t, err)
			assert.Zero(t, fi.Size(), "nothing written to it")
		})
	}
}

// TestSQLiteNewStoreRefusesALinkedSidecar: a -wal (or -shm, -journal) that
// is a symbolic link, planted beside a database that does not exist yet, is
// refused by name before SQLite opens anything (SQLite failed with "unable
// to open database file").
func TestSQLiteNewStoreRefusesALinkedSidecar(t *testing.T) {
	withUmask022(t)
	f := startFake(t)
	for _, s := range []string{"-wal", "-shm", "-journal"} {
		t.Run(s, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "tokens.db")
			loot := filepath.Join(t.TempDir(), "loot")
			require.NoError(t, os.Symlink(loot, db+s))
			r := runCmd(t, sqliteEnv(f, db), "status")
			assert.Equal(t, 1, r.code, "stderr: %s", r.stderr)
			assert.Contains(t, r.stderr, db+s+" is a symbolic link")
			_, err := os.Lstat(loot)
			assert.True(t, os.IsNotExist(err), "nothing written through the link")
		})
	}
}

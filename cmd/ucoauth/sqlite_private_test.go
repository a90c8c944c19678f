package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mode is path's permission bits, or 0 when it does not exist.
func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if os.IsNotExist(err) {
		return 0
	}
	require.NoError(t, err)
	return fi.Mode().Perm()
}

// sqliteEnv is f.env with a SQLite store at db, run under umask 022 (the
// usual shell's, which made the database 0644).
func sqliteEnv(f *fake, db string) []string {
	return baseEnv("UCOAUTH_STORE=sqlite:"+db, "ULTRACART_BASE_URL="+f.base(),
		"ULTRACART_CLIENT_ID="+clientID, "ULTRACART_CLIENT_SECRET="+clientSecret)
}

// withUmask022 runs the test's commands under umask 022, as a shell would.
func withUmask022(t *testing.T) {
	old := umask(0o022)
	t.Cleanup(func() { umask(old) })
}

// TestSQLiteStoreIsPrivate: `ucoauth login` with sqlite:PATH creates the
// database 0600 in a 0700 directory, and SQLite's -wal and -shm files, which
// exist while the store is open, 0600 too (it created them 0644, tokens in
// clear, under the usual umask 022).
func TestSQLiteStoreIsPrivate(t *testing.T) {
	withUmask022(t)
	f := startFake(t)
	dir := filepath.Join(t.TempDir(), "state", "ucoauth")
	db := filepath.Join(dir, "tokens.db")
	cmd, link, stderr := startLogin(t, sqliteEnv(f, db), "-key", "M1", "-no-browser")

	// The login holds the store open while it waits for the browser.
	assert.Equal(t, os.FileMode(0o700), mode(t, dir), "the directory it created")
	assert.Equal(t, os.FileMode(0o600), mode(t, db))
	for _, s := range []string{"-wal", "-shm", "-journal"} {
		if m := mode(t, db+s); m != 0 {
			assert.Equal(t, os.FileMode(0o600), m, "%s%s", db, s)
		}
	}
	assert.NotZero(t, mode(t, db+"-wal"), "WAL mode: the -wal file exists while the store is open")

	_, body := browse(t, link)
	assert.Contains(t, body, "Connected M1")
	require.Equal(t, 0, loginExit(t, cmd, stderr), "stderr:\n%s", stderr)
	assert.NotContains(t, stderr.String(), "warning")
	assert.Equal(t, os.FileMode(0o600), mode(t, db))

	r := runCmd(t, sqliteEnv(f, db), "status", "M1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "fresh")
	assert.Empty(t, r.stderr, "a private store: no warning")
	assert.Equal(t, os.FileMode(0o600), mode(t, db))

	// A sidecar open to others beside a private database (left by another
	// program) is tightened after the first write.
	require.NoError(t, os.WriteFile(db+"-journal", nil, 0o644))
	require.NoError(t, os.Chmod(db+"-journal", 0o644))
	r = runCmd(t, sqliteEnv(f, db), "status", "M1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	if m := mode(t, db+"-journal"); m != 0 {
		assert.Equal(t, os.FileMode(0o600), m, "tightened")
	}
}

// TestSQLiteStoreOthersCanReadWarns: an existing database that others can
// read is left as it is (it may be shared on purpose), with a warning that
// says how to fix it.
func TestSQLiteStoreOthersCanReadWarns(t *testing.T) {
	withUmask022(t)
	f := startFake(t)
	db := filepath.Join(t.TempDir(), "tokens.db")
	r := runCmd(t, sqliteEnv(f, db), "status")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, os.FileMode(0o600), mode(t, db))
	require.NoError(t, os.Chmod(db, 0o644))

	r = runCmd(t, sqliteEnv(f, db), "status")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "warning: "+db+" has mode -rw-r--r--: others can read the tokens in it (chmod 600 "+db+")\n", r.stderr)
	assert.Equal(t, os.FileMode(0o644), mode(t, db), "left as it is")
	assert.Equal(t, 1, strings.Count(r.stderr, "warning"))

	// A symbolic link for the database is refused.
	link := filepath.Join(t.TempDir(), "link.db")
	require.NoError(t, os.Symlink(db, link))
	r = runCmd(t, sqliteEnv(f, link), "status")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "is a symbolic link")
}

package main_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSQLitePathIsTheFileOpened: the file made private and checked is the
// one SQLite opens, whatever characters its name holds. SQLite reads a
// file: name as a URI, where %41 is "A" and # starts a fragment: it opened
// tokA.db beside the private tok%41.db, unchecked, or failed with "out of
// memory".
func TestSQLitePathIsTheFileOpened(t *testing.T) {
	withUmask022(t)
	f := startFake(t)
	for _, name := range []string{"tok%41.db", "tok%2541.db", "tok#x.db", "100%.db", "a b.db"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, name)
			r := runCmd(t, sqliteEnv(f, db), "status")
			require.Equal(t, 0, r.code, r.stderr)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			assert.Equal(t, []string{name}, names, "SQLite opened the file prepared, and nothing else")
			assert.Equal(t, os.FileMode(0o600), mode(t, db))
		})
	}
}

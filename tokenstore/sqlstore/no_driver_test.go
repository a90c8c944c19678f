package sqlstore_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSQLLibraryImportsNoDriver: the library leaves the choice of driver to
// its user: neither sqlstore, tokenstore nor ucoauth depends on one,
// directly or not.
func TestSQLLibraryImportsNoDriver(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps",
		"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore", "github.com/ucoauth/go-ucoauth/tokenstore", "github.com/ucoauth/go-ucoauth/ucoauth").Output()
	require.NoError(t, err)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "database/sql", "precondition: the list is the real one")
	for _, dep := range deps {
		for _, driver := range []string{"jackc/pgx", "lib/pq", "go-sql-driver/mysql", "modernc.org/sqlite", "mattn/go-sqlite3", "ziutek/mymysql"} {
			assert.NotContains(t, dep, driver, "the library imports a database driver")
		}
	}
}

package sqlstore_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/ucoauth/go-ucoauth/internal/testservers/sqltest"
	"go.uber.org/goleak"
)

// TestMain stops the PostgreSQL and MariaDB servers that the SQL tests
// start once for the whole package, then checks, with no ignore options,
// that no goroutine outlived the tests: the stores start none of their own
// that a caller cannot stop. The SQL fleet's child processes are not
// checked: they keep connections to their parent's server, and exit.
func TestMain(m *testing.M) {
	if os.Getenv(envSQLFleetDSN) != "" {
		os.Exit(m.Run())
	}
	code := m.Run()
	sqltest.CloseShared()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

package tokenstore_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/internal/testservers/sqltest"
	"go.uber.org/goleak"
)

// TestMain stops the PostgreSQL and MariaDB servers that the SQL tests
// start once for the whole package, then checks, with no ignore options,
// that no goroutine outlived the tests: the stores start none of their own
// that a caller cannot stop (a Redis lock wait's subscription included).
func TestMain(m *testing.M) {
	redistest.QuietLogs()
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

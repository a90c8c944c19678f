package tokenstore_test

import (
	"os"
	"testing"

	"github.com/ucoauth/go-ucoauth/internal/sqltest"
)

// TestMain stops the PostgreSQL and MariaDB servers that the SQL tests
// start once for the whole package.
func TestMain(m *testing.M) {
	code := m.Run()
	sqltest.CloseShared()
	os.Exit(code)
}

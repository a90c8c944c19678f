package redisstore_test

import (
	"os"
	"testing"

	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"go.uber.org/goleak"
)

// TestMain checks, with no ignore options, that no goroutine outlived the
// tests: the store starts none of its own that a caller cannot stop (a
// lock wait's subscription included). The fleet tests' child processes
// are not checked: they keep connections to their parent's servers, and
// exit.
func TestMain(m *testing.M) {
	redistest.QuietLogs() // here and in the children, which dial a Redis that the tests kill
	for _, env := range []string{envFleetRedis, envFleetSentinel, envSealFleetRedis, envRevokedRedis, envSquareFleetRedis} {
		if os.Getenv(env) != "" {
			os.Exit(m.Run())
		}
	}
	goleak.VerifyTestMain(m)
}

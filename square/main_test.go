package square_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The package and the fake leave nothing running once closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

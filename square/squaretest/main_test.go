package squaretest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The fake leaves nothing running once closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

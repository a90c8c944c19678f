package ucoauthtest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The fake server leaves nothing running once closed: no ignore options.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

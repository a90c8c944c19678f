package main

import (
	"os"
	"testing"

	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
)

// TestMain silences go-redis's own log lines (a Sentinel's master switches,
// dials to nodes that a test stopped), as every package testing on Redis
// does; main keeps them for users.
func TestMain(m *testing.M) {
	redistest.QuietLogs()
	os.Exit(m.Run())
}

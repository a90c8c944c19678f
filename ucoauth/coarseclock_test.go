package ucoauth

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// coarseTickers counts the coarse clock's goroutines.
func coarseTickers() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "ucoauth.coarseRun(")
}

// TestCoarseClockStopsAfterWallClockStepsBack: a lease taken just before
// the wall clock stepped back an hour lies an hour ahead. The ticker must
// still stop once nobody uses it, not an hour later, and a renewal after
// the step must lease from now.
func TestCoarseClockStopsAfterWallClockStepsBack(t *testing.T) {
	now := time.Now().UnixNano()
	coarseRenew(now)
	require.Eventually(t, func() bool { return coarseRunning.Load() }, time.Second, time.Millisecond)
	coarseUntil.Store(now + int64(time.Hour)) // the lease, seen after a step back of an hour
	assert.Eventually(t, func() bool { return coarseTickers() == 0 }, 10*time.Second, 10*time.Millisecond,
		"the coarse clock runs for as long as the wall clock stepped back")

	coarseUntil.Store(time.Now().UnixNano() + int64(time.Hour))
	n := time.Now().UnixNano()
	coarseRenew(n)
	assert.LessOrEqual(t, coarseUntil.Load(), n+int64(2*coarseLease), "a renewal kept a lease from before the step")
	assert.Eventually(t, func() bool { return coarseTickers() == 0 }, 10*time.Second, 10*time.Millisecond)
}

package ucoauth

import (
	"math"
	"sync/atomic"
	"time"
)

// The hot path must not read the clock: time.Now costs more than the rest of
// Token() together (54 ns of 56 on a VM without a vDSO clock). A ticker
// keeps a coarse reading instead, deliberately ahead of real time by two
// ticks, so that "coarse < staleAt" can only err towards the slow path,
// which reads the precise clock.
//
// The ticker runs on a lease: every pass through the slow path renews it,
// and it stops itself once the lease ran out, so that nothing the library
// started outlives its use (goleak finds nothing). Stopping stores
// math.MaxInt64 before anything else, which sends every caller to the slow
// path, which restarts the ticker: a stopped clock can never make a token
// look fresh.
const (
	coarseTick  = 10 * time.Millisecond
	coarseLease = 200 * time.Millisecond
)

var (
	coarseNanos   atomic.Int64 // math.MaxInt64 while stopped
	coarseUntil   atomic.Int64 // unix nanos: the lease
	coarseRunning atomic.Bool
)

func init() { coarseNanos.Store(math.MaxInt64) }

// coarseRenew extends the lease from now (precise unix nanos) and starts the
// ticker if it is stopped.
func coarseRenew(now int64) {
	// A lease further ahead than two leases was taken before the wall
	// clock stepped back: renewed from now, not kept for the step.
	if u := coarseUntil.Load(); u < now+int64(coarseLease/2) || u > now+int64(2*coarseLease) {
		coarseUntil.Store(now + int64(coarseLease))
	}
	if !coarseRunning.Load() && coarseRunning.CompareAndSwap(false, true) {
		coarseNanos.Store(now + int64(2*coarseTick))
		go coarseRun()
	}
}

func coarseRun() {
	t := time.NewTicker(coarseTick)
	defer t.Stop()
	for range t.C {
		now := time.Now().UnixNano() // the tick's own time may be late
		// Past the lease, or so far before it (two leases: a renewal may
		// have read the clock after this tick did) that the wall clock
		// stepped back: either way the lease says nothing of recent use.
		if u := coarseUntil.Load(); now > u || u-now > int64(2*coarseLease) {
			coarseNanos.Store(math.MaxInt64) // first: nobody trusts it now
			coarseRunning.Store(false)
			return
		}
		coarseNanos.Store(now + int64(2*coarseTick))
	}
}

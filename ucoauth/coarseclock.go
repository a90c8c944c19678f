package ucoauth

import (
	"sync"
	"sync/atomic"
	"time"
)

// The hot path must not read the clock: time.Now costs more than the rest of
// Token() together (54 ns of 56 on a VM without a vDSO clock). One ticker
// per process keeps a coarse reading instead, deliberately ahead of real
// time by two ticks, so that "coarse < staleAt" can only err towards the
// slow path, which reads the precise clock.
const coarseTick = 10 * time.Millisecond

var (
	coarseNanos atomic.Int64
	coarseOnce  sync.Once
)

func startCoarseClock() {
	coarseOnce.Do(func() {
		coarseNanos.Store(time.Now().Add(2 * coarseTick).UnixNano())
		go func() {
			t := time.NewTicker(coarseTick)
			for now := range t.C {
				coarseNanos.Store(now.Add(2 * coarseTick).UnixNano())
			}
		}()
	})
}

package ucoauth

import (
	"context"
	"time"

	"golang.org/x/oauth2"
)

// Polls of the store while a refresh waits for its lock: the first after
// lockWaitLookFirst, then twice as long each time, up to lockWaitLookMax.
const (
	lockWaitLookFirst = 25 * time.Millisecond
	lockWaitLookMax   = 250 * time.Millisecond
)

// lock takes the source's refresh lock for a refresh, or borrows it from
// a save of this source being retried, which holds it. It returns nil when
// the store has no lock, and adopt instead of a lock when another process
// saved a fresh token while this one waited (see lockOrAdopt).
func (p persister) lock(ctx context.Context, own saveOwner, mem *oauth2.Token) (h *held, adopt *state, err error) {
	if b := borrow(own.heldRetry()); b != nil {
		return b, nil, nil
	}
	lease, adopt, err := p.lockOrAdopt(ctx, own, mem)
	if err != nil {
		return nil, nil, &StoreError{Op: "lock", Key: p.key, Err: err}
	}
	if lease == nil {
		return nil, adopt, nil
	}
	return &held{lease: lease}, nil, nil
}

// lockOrAdopt takes the store's refresh lock for key. While it waits, it
// looks at the store now and then: a fresh token that the holder saved
// meanwhile ends the wait, and is returned to adopt (with a nil unlock), as
// the look before locking would have. Without this, every process of a
// fleet whose token went stale queued for the lock only to read, one after
// the other, what the first one saved. On 2 loaded cores, 8 processes took
// about 2 s to file through the lock after the refresh had landed; their
// tokens expired meanwhile and their callers' waits ran out
// (TestSQLFleetPostgres). Adopting without the lock is what the look before
// locking does already: no refresh token is sent.
//
// The lock wait runs in a goroutine that lockOrAdopt always waits for: a
// lock granted while the wait was being called off is released at once.
func (p persister) lockOrAdopt(ctx context.Context, own saveOwner, mem *oauth2.Token) (lease Lease, adopt *state, err error) {
	if _, ok := p.store.(Locker); !ok {
		return nil, nil, nil
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type locked struct {
		lease Lease
		err   error
	}
	done := make(chan locked, 1)
	go func() {
		l, err := lockLease(lctx, p.store, p.key)
		done <- locked{l, err}
	}()
	wait := lockWaitLookFirst
	for {
		t := time.NewTimer(wait)
		select {
		case r := <-done:
			t.Stop()
			return r.lease, nil, r.err
		case <-t.C:
		}
		wait = min(2*wait, lockWaitLookMax)
		// A failed look changes nothing: the lock wait goes on, and its
		// own outcome is what counts.
		stored, fresh, _, lerr := p.look(ctx, own, mem)
		if lerr == nil && fresh == nil {
			p.restoreNewer(ctx, stored, mem) // for the holder waiting out lostGrace
		}
		if lerr == nil && fresh != nil {
			cancel()
			if r := <-done; r.err == nil && r.lease != nil {
				r.lease.Release() // granted as the wait was called off
			}
			return nil, fresh, nil
		}
	}
}

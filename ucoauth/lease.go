package ucoauth

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/oauth2"
)

// lockLease takes key's refresh lock in store: a Lease when the store is a
// LeaseLocker, an unchecked one when it is a plain Locker, and nil when it
// has no lock.
func lockLease(ctx context.Context, store TokenStore, key string) (Lease, error) {
	switch l := store.(type) {
	case LeaseLocker:
		return l.LockLease(ctx, key)
	case Locker:
		unlock, err := l.Lock(ctx, key)
		if err != nil {
			return nil, err
		}
		return unlockLease(unlock), nil
	}
	return nil, nil
}

// unlockLease is a plain Locker's lock: it cannot be checked, so Keep
// trusts it.
type unlockLease func()

func (unlockLease) Keep(context.Context) error { return nil }
func (u unlockLease) Release()                 { u() }

// held is the refresh lock a refresh holds. A refresh whose save must be
// retried hands it over to the retry (kept), which keeps it until the save
// lands; a later refresh of the same source borrows it from that retry
// (hold) instead of waiting for a lock its own process holds.
type held struct {
	lease Lease
	hold  *retryHold // set when borrowed from a save being retried; hold.mu is held
	kept  bool       // handed over to a save being retried
	got   bool       // the refresh got a token: an older unsaved one need not be saved
}

// keep checks the lock before the refresh token is presented or the result
// saved. A source whose store has no lock holds nothing to check.
func (h *held) keep(ctx context.Context) error {
	if h == nil || h.lease == nil {
		return nil
	}
	err := h.lease.Keep(ctx)
	if err != nil && !errors.Is(err, ErrLockLost) {
		err = fmt.Errorf("%w: %w", ErrLockLost, err)
	}
	return err
}

// release ends the refresh's hold on the lock: it releases it, unless a
// save being retried keeps it. A lock borrowed from a retry goes back to
// it, unless this refresh got a newer token, which makes that retry moot.
func (h *held) release() {
	if h == nil {
		return
	}
	if r := h.hold; r != nil {
		if h.got && !h.kept && r.lease != nil {
			r.lease.Release()
			r.lease, r.done = nil, true
		}
		r.mu.Unlock()
		return
	}
	if !h.kept {
		h.lease.Release()
	}
}

// retryHold is the refresh lock that a save being retried keeps, so that
// no other process refreshes from the stored token, whose refresh token
// the unsaved one rotated away. Its mutex serializes the retry's attempts
// with a refresh that borrows the lock.
type retryHold struct {
	mu    sync.Mutex
	lease Lease         // nil while not held (lost, and not taken again)
	tok   *oauth2.Token // the token whose save keeps it
	done  bool          // released: saved, superseded, or given up
}

func (h *health) retryOrNil() *retryHold {
	if h == nil {
		return nil
	}
	return h.retry
}

// lock takes the source's refresh lock for a refresh, or borrows it from
// a save of this source being retried, which holds it. It returns nil when
// the store has no lock, and adopt instead of a lock when another process
// saved a fresh token while this one waited (see lockOrAdopt).
func (s *TokenSource) lock(ctx context.Context, mem *oauth2.Token) (h *held, adopt *state, err error) {
	if b := s.borrow(); b != nil {
		return b, nil, nil
	}
	lease, adopt, err := s.lockOrAdopt(ctx, mem)
	if err != nil {
		return nil, nil, &StoreError{Op: "lock", Key: s.key, Err: err}
	}
	if lease == nil {
		return nil, adopt, nil
	}
	return &held{lease: lease}, nil, nil
}

// borrow returns the lock that a save of this source being retried holds,
// or nil. The retry's mutex stays held until the returned hold's release.
func (s *TokenSource) borrow() *held {
	if r := s.h.Load().retryOrNil(); r != nil {
		r.mu.Lock()
		if !r.done && r.lease != nil {
			return &held{lease: r.lease, hold: r}
		}
		r.mu.Unlock()
	}
	return nil
}

// errRetryReplaced ends a retry whose token a newer one of this source
// replaced: that one's save holds the lock now.
var errRetryReplaced = errors.New("ucoauth: replaced by a newer token")

// attempt runs one attempt of the retry of tok's save, under the lock when
// it can be kept or taken again. A lock found lost is reported in the
// source's health (see Status) until the retry ends: meanwhile another
// process may have refreshed from the stored token.
func (r *retryHold) attempt(ctx context.Context, s *TokenSource, tok *oauth2.Token, save func(locked bool) error) error {
	if r == nil {
		return save(false)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tok != tok {
		return errRetryReplaced
	}
	if r.done {
		return save(false)
	}
	if r.lease != nil {
		if err := r.lease.Keep(ctx); err != nil {
			r.lease.Release()
			r.lease = nil
			if !errors.Is(err, ErrLockLost) {
				err = fmt.Errorf("%w: %w", ErrLockLost, err)
			}
			s.setLockLost(&StoreError{Op: "lock", Key: s.key, Err: err})
		}
	}
	if r.lease == nil {
		if l, err := lockLease(ctx, s.store, s.key); err == nil && l != nil {
			r.lease = l
			s.o.logger.Warn("ucoauth: holding the refresh lock again while the refreshed token waits to be saved", "key", s.key)
		}
	}
	return save(r.lease != nil)
}

// end releases the lock when tok's retry ends, unless a newer token's
// retry holds it now.
func (r *retryHold) end(s *TokenSource, tok *oauth2.Token) {
	if r == nil {
		return
	}
	r.mu.Lock()
	mine := r.tok == tok
	if mine && !r.done {
		if r.lease != nil {
			r.lease.Release()
		}
		r.lease, r.done = nil, true
	}
	r.mu.Unlock()
	if mine {
		s.mu.Lock()
		if h := s.h.Load(); h != nil && (h.retry == r || h.lockLost != nil) {
			s.update(func(h *health) {
				if h.retry == r {
					h.retry = nil
				}
				h.lockLost = nil
			})
		}
		s.mu.Unlock()
	}
}

// setLockLost records a refresh lock lost while a rotated token waited to
// be saved.
func (s *TokenSource) setLockLost(err error) {
	s.o.logger.Error("ucoauth: lost the refresh lock while the refreshed token waits to be saved; another process may refresh from the stored, rotated-away refresh token",
		"key", s.key, "err", err)
	s.mu.Lock()
	s.update(func(h *health) { h.lockLost = err })
	s.mu.Unlock()
}

package ucoauth

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/oauth2"
)

// persister is a source's persistence: load, lock, compare-and-set save
// and the background retry of a save, for one key of one store. It is a
// small value, made on demand (see TokenSource.persist).
type persister struct {
	store TokenStore
	key   string
	o     *options
	miss  *missCache // a Manager's missing keys; nil for a source made alone
}

// saveOwner is what the persistence needs of the source it saves for:
// whether a token is still the one served, and a place for what a save
// being retried holds and meets.
type saveOwner interface {
	// serving reports whether tok is still the token served.
	serving(tok *oauth2.Token) bool
	// spawnSaving runs fn in the background for a save being retried,
	// unless the source is closed (see TokenSource.spawnSaving).
	spawnSaving(rotated bool, fn func(stop <-chan struct{})) bool
	// heldRetry is the lock that a save being retried holds, or nil.
	heldRetry() *retryHold
	// keepRetry records that a save being retried holds r.
	keepRetry(r *retryHold)
	// retryEnded records that r's retry ended.
	retryEnded(r *retryHold)
	// lostLock records that the lock of a save being retried was lost.
	lostLock(err error)
	// revokedWhileSaving drops tok, whose grant was revoked, if still served.
	revokedWhileSaving(tok *oauth2.Token, err error)
	// rejectedTok is the access token the API refused, or "": never news.
	rejectedTok() string
}

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

// borrow returns the lock that a save of this source being retried holds
// (r, or nil), or nil. The retry's mutex stays held until the returned
// hold's release.
func borrow(r *retryHold) *held {
	if r != nil {
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
func (r *retryHold) attempt(ctx context.Context, p persister, own saveOwner, tok *oauth2.Token, save func(locked bool) error) error {
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
			err = &StoreError{Op: "lock", Key: p.key, Err: err}
			p.o.logger.Error("ucoauth: lost the refresh lock while the refreshed token waits to be saved; another process may refresh from the stored, rotated-away refresh token",
				"key", p.key, "err", err)
			own.lostLock(err)
		}
	}
	if r.lease == nil {
		// Saved first: a lock lost with the store (a Redis restart) may be
		// held by another process now, which may be waiting for this very
		// token to be saved (see restoreLost) before it refreshes. The
		// store's newer-wins rule makes the save safe without the lock.
		if err := save(false); err == nil || !(&StoreError{Err: err}).Temporary() {
			return err
		}
		if l, err := lockLease(ctx, p.store, p.key); err == nil && l != nil {
			r.lease = l
			p.o.logger.Warn("ucoauth: holding the refresh lock again while the refreshed token waits to be saved", "key", p.key)
		}
	}
	return save(r.lease != nil)
}

// end releases the lock when tok's retry ends, unless a newer token's
// retry holds it now.
func (r *retryHold) end(own saveOwner, tok *oauth2.Token) {
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
		own.retryEnded(r)
	}
}

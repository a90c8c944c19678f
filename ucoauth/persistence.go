package ucoauth

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"golang.org/x/oauth2"
)

// The persistence of a source's token: load, compare-and-set save (with a
// few quick retries), the background retry of a save that failed, and the
// tombstone of a revoked grant. The lock lives in lease.go and lockwait.go.

// notFound is the error for a key the store does not hold.
func (p persister) notFound() error {
	return &StoreError{Op: "load", Key: p.key, Err: ErrTokenNotFound}
}

// loadCold reads the source's token for a cold start, through its
// Manager's cache of missing keys when it has one; now is the caller's
// reading of the clock.
func (p persister) loadCold(ctx context.Context, now int64) (*oauth2.Token, error) {
	c := p.miss
	if c == nil {
		return p.store.Load(ctx, p.key)
	}
	hit, gen := c.hit(p.key, now)
	if hit {
		return nil, ErrTokenNotFound
	}
	tok, err := p.store.Load(ctx, p.key)
	if errors.Is(err, ErrRevoked) {
		// A tombstone is no miss: served from the cache, it would read as
		// a merchant that never connected. The source paces its looks at
		// a revoked key (see dropRevokedLocked) as the cache would.
		return tok, err
	}
	if errors.Is(err, ErrTokenNotFound) && !c.record(p.key, gen, now) {
		// A save in this process (Manager.Save, Forget) overlapped the
		// read: what it found is not to be served either.
		return p.store.Load(ctx, p.key)
	}
	return tok, err
}

// look reads the stored token. fresh is set when that token is news worth
// adopting: a different, fresh token, which another process saved. corrupt
// says the record could not be read for good, while mem can stand in for it.
func (p persister) look(ctx context.Context, own saveOwner, mem *oauth2.Token) (stored *oauth2.Token, fresh *state, corrupt bool, err error) {
	stored, err = p.store.Load(ctx, p.key)
	switch {
	case errors.Is(err, ErrRevoked):
		// A tombstone: the grant was revoked. Whatever this process holds
		// of it is dropped (see finish), never saved back.
		return nil, nil, false, &StoreError{Op: "load", Key: p.key, Err: err}
	case errors.Is(err, ErrTokenNotFound):
		if mem == nil {
			return nil, nil, false, p.notFound()
		}
		// The store lost the token (a Redis restart without persistence)
		// or another process deleted it. Go on from the copy in memory: it
		// may hold the only live refresh token, and a revoked grant will
		// fail its refresh with ErrReauthorizationRequired anyway.
		return nil, nil, false, nil
	case err != nil:
		se := &StoreError{Op: "load", Key: p.key, Err: err}
		if mem == nil || se.Temporary() {
			return nil, nil, false, se
		}
		// A corrupt record will not heal, and the token in memory is good:
		// refresh from it, once it replaced the record (see refresh).
		return nil, nil, true, nil
	}
	// Only a different token is news; the one we hold is stale already.
	// A token the API refused is never news.
	if own.rejectedTok() == stored.AccessToken {
		return stored, nil, false, nil
	}
	if mem == nil || (stored.AccessToken != mem.AccessToken && !issuedBefore(stored, mem)) {
		now := p.o.now()
		if st := newState(stored, now, p.o.lifetimes()); st.freshAt(now) {
			return stored, st, false, nil
		}
	}
	return stored, nil, false, nil
}

// newest is the stored token when it is at least as recent as mem.
func newest(mem, stored *oauth2.Token) *oauth2.Token {
	if stored != nil && (mem == nil || !issuedBefore(stored, mem)) {
		return stored
	}
	return mem
}

// issuedBefore reports whether a was issued before b: by when each was
// issued (its expiry less the lifetime granted) when both say, otherwise by
// expiry. A token saved by a refresh elsewhere may expire before the one in
// memory that it replaced (UltraCart granted a shorter lifetime), and that
// refresh may have rotated the refresh token in memory away; only a token
// issued earlier is an older copy (a store that lost writes, a stale
// replica, or a save of ours that failed).
func issuedBefore(a, b *oauth2.Token) bool {
	if a.ExpiresIn > 0 && b.ExpiresIn > 0 {
		return issuedAt(a).Before(issuedAt(b))
	}
	return a.Expiry.Before(b.Expiry)
}

// issuedAt is t's expiry less its granted lifetime, which is bounded by
// [MaxProviderLifetime] first: a store of one's own may hold any
// expires_in, and the product must not overflow.
func issuedAt(t *oauth2.Token) time.Time {
	return t.Expiry.Add(-time.Duration(min(t.ExpiresIn, int64(MaxProviderLifetime/time.Second))) * time.Second)
}

// save tries a few times quickly, because a store blip must not cost the
// refresh token that UltraCart just rotated. An error that says it is
// permanent is not retried.
//
// A store's error is scrubbed of the token's secrets: a store may quote
// what it could not save (a database refusing the value, a store's own
// fmt.Errorf("saving %v", tok)).
func (p persister) save(ctx context.Context, tok *oauth2.Token) error {
	var err error
	for i := range 3 {
		if err = p.store.Save(ctx, p.key, tok); err == nil || errors.Is(err, ErrSuperseded) {
			return err
		}
		err = scrubTokens(err, tok)
		se := &StoreError{Op: "save", Key: p.key, Err: err}
		if !se.Temporary() {
			return se
		}
		select {
		case <-ctx.Done():
			return se
		case <-time.After(time.Duration(50<<i) * time.Millisecond):
		}
	}
	return &StoreError{Op: "save", Key: p.key, Err: err}
}

// replace saves tok over the stored token it was refreshed from, which the
// store's newer-wins rule would otherwise keep because it claims a later
// expiry. It runs under the store's lock (a Locker's), so no other refresh
// sees the moment between the delete and the save.
func (p persister) replace(ctx context.Context, tok *oauth2.Token) error {
	p.o.logger.Warn("ucoauth: the stored token expires after the one refreshed from it; replacing it", "key", p.key)
	if err := p.store.Delete(ctx, p.key); err != nil {
		return &StoreError{Op: "delete", Key: p.key, Err: err}
	}
	return p.save(ctx, tok)
}

// scrubTokens returns err with the secrets of toks (nil ones skipped)
// scrubbed from its text, within the bounded window (see maxScrubText): a
// token a server issued may be long, and so may a store's message. It
// still unwraps to err.
func scrubTokens(err error, toks ...*oauth2.Token) error {
	if err == nil {
		return nil
	}
	red := newRedactor()
	for _, t := range toks {
		if t != nil {
			red.add(t.AccessToken, t.RefreshToken)
		}
	}
	return red.wrapPrefix(err, maxScrubText)
}

// retryLater keeps trying to save tok in the background (see retrySave),
// unless the source was closed meanwhile: then the token is lost with it,
// and the log says so as plainly as when Close ends a retry. The retry
// keeps lk, the refresh lock, until the save lands: the stored token's
// refresh token was rotated away, and another process holding the lock
// would present it. rotated says that tok's refresh token is new: a
// Manager then keeps the source, idle or not, until the save lands.
func (p persister) retryLater(own saveOwner, tok, replacing *oauth2.Token, err error, lk *held, rotated bool) {
	var hold *retryHold
	if lk != nil {
		if hold = lk.hold; hold == nil {
			hold = &retryHold{lease: lk.lease}
		}
		hold.tok = tok // under hold.mu when borrowed: see held
	}
	started := own.spawnSaving(rotated, func(stop <-chan struct{}) { p.retrySave(own, tok, stop, replacing, hold) })
	if !started {
		p.o.logger.Error("ucoauth: closed before the refreshed token could be saved; it is lost with this source", "key", p.key, "err", err)
		return
	}
	if lk != nil {
		lk.kept = true
		own.keepRetry(hold)
	}
}

// retryOnce saves tok; when replacing is set, it first deletes the stored
// token if it is still replacing, the token tok was refreshed from (see
// replace), under the store's lock when it has one (locked: the retry
// holds it already).
func (p persister) retryOnce(ctx context.Context, tok, replacing *oauth2.Token, locked bool) error {
	if replacing == nil {
		return p.store.Save(ctx, p.key, tok)
	}
	if l, ok := p.store.(Locker); ok && !locked {
		unlock, err := l.Lock(ctx, p.key)
		if err != nil {
			return err
		}
		defer unlock()
	}
	stored, err := p.store.Load(ctx, p.key)
	switch {
	case errors.Is(err, ErrTokenNotFound):
		// The delete went through; only the save is missing.
	case err != nil:
		return err
	case stored.AccessToken == replacing.AccessToken && stored.RefreshToken == replacing.RefreshToken:
		if err := p.store.Delete(ctx, p.key); err != nil {
			return err
		}
	}
	// Anything else stored is someone's newer token: the store's own rule
	// decides, and ErrSuperseded ends the retries.
	return p.store.Save(ctx, p.key, tok)
}

// retrySave keeps trying to persist tok after the quick retries failed, with
// backoff, until it is saved, superseded, no longer the current token, or
// the source is closed: then it tries once more and stops. Meanwhile it
// keeps hold's refresh lock (nil: the store has none), renewing it at
// every attempt, at least once per refresh timeout, and takes it again
// when it was lost (see retryHold.attempt).
func (p persister) retrySave(own saveOwner, tok *oauth2.Token, stop <-chan struct{}, replacing *oauth2.Token, hold *retryHold) {
	defer hold.end(own, tok)
	d := p.o.minBackoff
	for {
		wait := d
		if hold != nil {
			wait = min(wait, p.o.timeout) // a lease's TTL is at least three refresh timeouts
		}
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		closing := false
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			closing = true
		}
		if !own.serving(tok) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.o.timeout)
		err := hold.attempt(ctx, p, own, tok, func(locked bool) error { return p.retryOnce(ctx, tok, replacing, locked) })
		if errors.Is(err, errRetryReplaced) {
			cancel()
			return
		}
		err = scrubTokens(err, tok, replacing)
		cancel()
		switch {
		case errors.Is(err, ErrRevoked):
			p.o.logger.Warn("ucoauth: the grant was revoked meanwhile; dropping the refreshed token", "key", p.key)
			own.revokedWhileSaving(tok, &StoreError{Op: "save", Key: p.key, Err: err})
			return
		case err == nil || errors.Is(err, ErrSuperseded):
			p.o.logger.Info("ucoauth: saved refreshed token after retrying", "key", p.key)
			return
		case closing:
			p.o.logger.Error("ucoauth: closed before the refreshed token could be saved; it is lost with this source", "key", p.key, "err", err)
			return
		case !(&StoreError{Err: err}).Temporary():
			p.o.logger.Error("ucoauth: cannot save refreshed token, for good; keeping it in memory", "key", p.key, "err", err)
			return
		}
		p.o.logger.Error("ucoauth: still cannot save refreshed token; keeping it in memory", "key", p.key, "err", err)
		d = min(d, p.o.maxBackoff/2) * 2 // saturates: 2*d cannot overflow
	}
}

// bury marks the key revoked in the store: a tombstone naming the grants
// of toks (nil ones skipped), when the store is a Tombstoner; otherwise,
// or when a wrapper's inner store keeps none, it deletes the key.
func (p persister) bury(ctx context.Context, toks ...*oauth2.Token) error {
	if t, ok := p.store.(Tombstoner); ok {
		var grants []string
		for _, g := range toks {
			if id := GrantID(g); id != "" {
				grants = append(grants, id)
			}
		}
		err := t.Tombstone(ctx, p.key, grants...)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			return &StoreError{Op: "tombstone", Key: p.key, Err: err}
		}
	}
	p.o.logger.Warn("ucoauth: the store keeps no tombstones; deleting the revoked key (a process holding the grant in memory may save it again)", "key", p.key)
	if err := p.store.Delete(ctx, p.key); err != nil {
		return &StoreError{Op: "delete", Key: p.key, Err: err}
	}
	return nil
}

// behind reports whether stored is an older copy than mem: the store lost
// writes (restarted empty, then restored from an older copy).
func behind(stored, mem *oauth2.Token) bool {
	return stored != nil && mem != nil && stored.AccessToken != mem.AccessToken && issuedBefore(stored, mem)
}

// restoreNewer writes mem over stored when the store holds an older copy,
// so that a refresh waiting out lostGrace elsewhere refreshes from it. A
// failed write changes nothing: this process refreshes from mem anyway.
func (p persister) restoreNewer(ctx context.Context, stored, mem *oauth2.Token) {
	if !behind(stored, mem) {
		return
	}
	if err := p.store.Save(ctx, p.key, mem); err == nil {
		p.o.logger.Warn("ucoauth: the store held an older token than this process; wrote this one back", "key", p.key)
	}
}

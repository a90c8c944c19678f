package ucoauth

import (
	"context"
	"errors"
	"time"

	"golang.org/x/oauth2"
)

// A store that loses the token (a Redis restarted without persistence)
// leaves the merchant's only live refresh token in the memory of whichever
// process got it last: one that refreshed and could not save yet (its save
// is being retried), or one that refreshed or adopted it just before the
// loss. Every other process holds an older copy, whose refresh token that
// refresh rotated away. Refreshing from one's own copy as soon as the store
// is found empty sent such a dead refresh token: invalid_grant, and that
// process was told to reauthorize (TestRedisFleetSurvivesRedisRestart).
//
// So a process that finds the store empty under the refresh lock writes its
// copy back and keeps the lock for lostGrace before refreshing from the
// newest token then stored. Meanwhile a process holding a newer copy writes
// it over the older one (restoreNewer, from the look before locking or from
// a lock wait's looks), and a save being retried lands without waiting for
// the lock (retryHold.attempt): the store's newer-wins rule keeps the
// newest of them.

// lostGrace is how long a refresh that found the store empty waits, under
// the lock, for newer copies: the longest pause between the attempts of a
// save being retried (see retrySave), and at least two of a lock wait's
// looks at the store; never more than a refresh timeout, which the
// refresh's context leaves room for.
func (p persister) lostGrace() time.Duration {
	return min(p.o.timeout, max(p.o.maxBackoff, 2*lockWaitLookMax))
}

// restoreLost runs under the refresh lock when the store no longer holds
// the token that mem is a copy of: it writes mem back, waits lostGrace for
// newer copies, and looks again. It returns what the store holds then (nil
// when still nothing), and fresh when that is a fresh token to adopt.
func (p persister) restoreLost(ctx context.Context, own saveOwner, mem *oauth2.Token) (stored *oauth2.Token, fresh *state, err error) {
	switch err := p.store.Save(ctx, p.key, mem); {
	case err == nil, errors.Is(err, ErrSuperseded):
		// Restored, or a newer copy arrived first.
	default:
		return nil, nil, &StoreError{Op: "save", Key: p.key, Err: scrubTokens(err, mem)}
	}
	p.o.logger.Warn("ucoauth: the store lost the token; wrote this process's copy back, waiting for newer ones before refreshing", "key", p.key, "wait", p.lostGrace())
	t := time.NewTimer(p.lostGrace())
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, nil, &StoreError{Op: "lock", Key: p.key, Err: ctx.Err()}
	}
	stored, fresh, _, err = p.look(ctx, own, mem)
	return stored, fresh, err
}

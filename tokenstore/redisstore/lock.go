package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/internal/record"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// lockScript takes the lock, or gives a lock key that has no TTL the lock
// TTL: a key written by hand or another tool must not block forever.
var lockScript = redis.NewScript(`
if redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
	return 1
end
if redis.call("PTTL", KEYS[1]) == -1 then
	redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

// unlockScript deletes the lock only if we still own it, and tells waiters.
// The channel is an argument, not a key: in a Cluster a channel has no slot,
// and naming it as a key fails while the lock's slot moves. Waiters that
// may not subscribe poll, so a refused PUBLISH is not an error.
var unlockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	redis.call("DEL", KEYS[1])
	redis.pcall("PUBLISH", ARGV[2], "1") -- an ACL may forbid the channel
	return 1
end
return 0`)

// Lock takes key's refresh lock, shared by every process using the Redis.
func (r *Store) Lock(ctx context.Context, key string) (func(), error) {
	l, err := r.LockLease(ctx, key)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// LockLease is Lock, returning the held lock. Keep checks that the lock
// key still holds this holder's owner value and gives it the lock TTL
// again, in one script.
func (r *Store) LockLease(ctx context.Context, key string) (ucoauth.Lease, error) {
	if err := record.CheckKey(key); err != nil {
		return nil, err
	}
	lk, ch := r.key(key, "lock"), r.key(key, "unlock")
	owner := record.NewOwner()
	unlock := func() {
		// Detached: a cancelled caller must still release the lock.
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		r.release(c, key, lk, ch, owner)
	}

	ok, err := r.tryLock(ctx, lk, owner, unlock)
	if err != nil && !errors.Is(err, ErrUnconfirmed) { // a moving slot: wait it out
		return nil, fmt.Errorf("redisstore: lock: %w", err)
	}
	if !ok {
		// Subscribe before retrying, so a release between the two is seen.
		var msgs <-chan *redis.Message
		sub := r.c.Subscribe(ctx, ch)
		defer sub.Close()
		if _, err := sub.Receive(ctx); err == nil {
			msgs = sub.Channel()
		} else if !isNoPerm(err) {
			return nil, fmt.Errorf("redisstore: lock: subscribing: %w", err)
		} // else the ACL forbids the channel: poll alone
		wait := 10 * time.Millisecond
		for {
			if ok, err = r.tryLock(ctx, lk, owner, unlock); err != nil && !errors.Is(err, ErrUnconfirmed) {
				return nil, fmt.Errorf("redisstore: lock: %w", err)
			} else if ok {
				break
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				if err != nil {
					return nil, fmt.Errorf("redisstore: waiting for the lock on %q: %w (last: %w)", key, ctx.Err(), err)
				}
				return nil, fmt.Errorf("redisstore: waiting for the lock on %q: %w", key, ctx.Err())
			case _, open := <-msgs:
				if !open {
					msgs = nil // the subscription broke: poll alone
				}
			case <-t.C:
				wait = min(2*wait, 250*time.Millisecond)
			}
			t.Stop()
		}
	}
	return &lease{r: r, lk: lk, owner: owner, release: unlock}, nil
}

// tryLock makes one attempt at the lock. A lock that too few replicas
// acknowledged is released again and reported, since a failover would lose
// it.
func (r *Store) tryLock(ctx context.Context, lk, owner string, unlock func()) (bool, error) {
	got, ran := false, false
	err := r.c.Watch(ctx, func(tx *redis.Tx) error { // Watch only to pin one connection to lk's master
		n, err := lockScript.Run(ctx, tx, []string{lk}, owner, r.lockTTL.Milliseconds()).Int()
		if err != nil {
			return err
		}
		ran, got = true, n == 1
		if got {
			return r.awaitReplicas(ctx, tx)
		}
		return nil
	}, lk)
	switch {
	case err != nil && got:
		unlock()
		return false, err
	case err != nil:
		return false, err
	case !ran:
		return false, ErrUnconfirmed
	}
	return got, nil
}

// release runs the unlock script, retrying with backoff while ctx allows,
// and logs a lock it could not release: it then lives until its TTL.
func (r *Store) release(ctx context.Context, key, lk, ch, owner string) {
	pause := 20 * time.Millisecond
	var err error
	for attempt := range 5 {
		if attempt > 0 && !sleep(ctx, pause) {
			break
		}
		if err = unlockScript.Run(ctx, r.c, []string{lk}, owner, ch).Err(); err == nil {
			return
		}
		pause *= 2
	}
	r.log.Error("redisstore: cannot release a refresh lock; it expires by its TTL",
		"key", key, "ttl", r.lockTTL, "err", err)
}

// keepScript gives the lock the TTL again if it is still ours.
var keepScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	redis.call("PEXPIRE", KEYS[1], ARGV[2])
	return 1
end
return 0`)

// lease is a held Redis lock: the lock key, holding owner.
type lease struct {
	r         *Store
	lk, owner string
	release   func()
	once      sync.Once
}

// Keep confirms the owner value and gives the lock its TTL again.
func (l *lease) Keep(ctx context.Context) error {
	n, err := keepScript.Run(ctx, l.r.c, []string{l.lk}, l.owner, l.r.lockTTL.Milliseconds()).Int()
	switch {
	case err != nil:
		return fmt.Errorf("redisstore: %w: cannot confirm the lock: %w", ucoauth.ErrLockLost, err)
	case n != 1:
		return fmt.Errorf("redisstore: %w: the lock expired or another holder took it", ucoauth.ErrLockLost)
	}
	return nil
}

// Release releases the lock, once.
func (l *lease) Release() { l.once.Do(l.release) }

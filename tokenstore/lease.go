package tokenstore

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/gofrs/flock"
	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// memLease is a held Memory lock.
type memLease struct {
	once     sync.Once
	mu       sync.Mutex
	released bool
	release  func()
}

func (l *memLease) Keep(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return fmt.Errorf("tokenstore: memory: %w: released", ucoauth.ErrLockLost)
	}
	return nil
}

func (l *memLease) Release() {
	l.once.Do(func() {
		l.mu.Lock()
		l.released = true
		l.mu.Unlock()
		l.release()
	})
}

// fileLease is a held File lock: an OS lock on an open lock file.
type fileLease struct {
	l    *flock.Flock
	path string
	once sync.Once
}

// Keep checks that the file locked is still the one at the lock's path.
func (l *fileLease) Keep(context.Context) error {
	if !l.l.Locked() {
		return fmt.Errorf("tokenstore: file: %w: released", ucoauth.ErrLockLost)
	}
	held, err := l.l.Stat()
	if err != nil {
		return fmt.Errorf("tokenstore: file: %w: %w", ucoauth.ErrLockLost, err)
	}
	now, err := os.Lstat(l.path)
	if err != nil || !os.SameFile(held, now) {
		return fmt.Errorf("tokenstore: file: %w: the lock file was removed or replaced", ucoauth.ErrLockLost)
	}
	return nil
}

func (l *fileLease) Release() { l.once.Do(func() { _ = l.l.Unlock() }) }

// keepScript gives the lock the TTL again if it is still ours.
var keepScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	redis.call("PEXPIRE", KEYS[1], ARGV[2])
	return 1
end
return 0`)

// redisLease is a held Redis lock: the lock key, holding owner.
type redisLease struct {
	r         *Redis
	lk, owner string
	release   func()
	once      sync.Once
}

// Keep confirms the owner value and gives the lock its TTL again.
func (l *redisLease) Keep(ctx context.Context) error {
	n, err := keepScript.Run(ctx, l.r.c, []string{l.lk}, l.owner, l.r.lockTTL.Milliseconds()).Int()
	switch {
	case err != nil:
		return fmt.Errorf("tokenstore: redis: %w: cannot confirm the lock: %w", ucoauth.ErrLockLost, err)
	case n != 1:
		return fmt.Errorf("tokenstore: redis: %w: the lock expired or another holder took it", ucoauth.ErrLockLost)
	}
	return nil
}

func (l *redisLease) Release() { l.once.Do(l.release) }

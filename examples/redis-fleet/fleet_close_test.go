package main

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/fleet"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
)

// TestUcoauthReturnsOnlyOnceItsRefreshesEnd: a refresh that a call started
// in the background is still under way when the hammer stops. Ucoauth must
// not return before it ends: its owner closes the Redis clients next, and
// the refresh would then release its lock on a closed client (the README's
// "go test ./..." failed on that in examples/redis-fleet, on a loaded
// machine). Here the refresh is held at its lock until after the hammer
// has stopped, so that it is under way then on any machine.
func TestUcoauthReturnsOnlyOnceItsRefreshesEnd(t *testing.T) {
	rs := redistest.Start(t)
	// Tokens turn stale 3 s after their issue, before the hammer starts, and
	// are served until 3.6 s (expiry less a tenth of the lifetime): the
	// hammer's last calls start a background refresh and never wait for it.
	const lifetime = 4 * time.Second
	p := fleet.Params{Instances: 2, Lifetime: lifetime, Every: 20 * time.Millisecond, Duration: lifetime*3/4 + 300*time.Millisecond}
	// The hammer stops at most p.Duration after a source's first command;
	// the refresh is held at its lock until half a second after that.
	h := &lockHold{hold: p.Duration + 500*time.Millisecond}
	var made atomic.Int64
	newClient := func() redis.UniversalClient {
		c := rs.TestClient(t)
		if made.Add(1) > 1 { // the first is the seed's
			c.AddHook(h)
		}
		return c
	}
	res, err := fleet.Ucoauth(p, stores(newClient, nil))
	returned := h.inflight.Load()
	require.NoError(t, err)
	require.True(t, h.locked.Load(), "precondition: a refresh went for the lock during the run")
	assert.Zero(t, returned, "Ucoauth returned while its sources still used Redis")
	assert.Zero(t, res.InvalidGrant)
	assert.Positive(t, res.Requests, "the held refresh ended before Ucoauth returned")
}

// lockHold is a go-redis hook on the sources' clients. It holds every
// command on a refresh lock key until hold after the first command of any
// source (which comes after the hammer started), and counts the commands
// under way.
type lockHold struct {
	hold     time.Duration
	once     sync.Once
	until    atomic.Int64 // UnixNano
	locked   atomic.Bool
	inflight atomic.Int64
}

func (h *lockHold) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *lockHold) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.inflight.Add(1)
		defer h.inflight.Add(-1)
		h.once.Do(func() { h.until.Store(time.Now().Add(h.hold).UnixNano()) })
		if onLock(cmd) {
			h.locked.Store(true)
			if d := time.Until(time.Unix(0, h.until.Load())); d > 0 {
				time.Sleep(d)
			}
		}
		return next(ctx, cmd)
	}
}

func (h *lockHold) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// onLock reports whether cmd names a refresh lock key (tokenstore's
// "...:lock").
func onLock(cmd redis.Cmder) bool {
	for _, a := range cmd.Args()[1:] {
		if s, ok := a.(string); ok && strings.HasSuffix(s, ":lock") {
			return true
		}
	}
	return false
}

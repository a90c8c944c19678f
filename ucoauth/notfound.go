package ucoauth

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Defaults of a Manager's cache of missing keys (see [WithNotFoundCache]).
const (
	// DefaultNotFoundTTL is how long a Manager trusts a read that found no
	// token for a key: a merchant that connects through another process
	// is served within it.
	DefaultNotFoundTTL = time.Second
	// DefaultNotFoundSize bounds how many missing keys a Manager
	// remembers (about 100 bytes each, with a short key).
	DefaultNotFoundSize = 10000
)

// WithNotFoundCache sets how long a [Manager] remembers that the store
// holds no token for a key, and for how many keys at most. While it
// remembers, Token() for that key answers [ErrTokenNotFound] without
// reading the store, so that callers asking for a merchant that never
// connected (or arbitrary IDs from a request) cost Redis or SQL one read
// per ttl, not one per call. The defaults are [DefaultNotFoundTTL] and
// [DefaultNotFoundSize]; ttl <= 0 turns the cache off, size <= 0 keeps
// the default. When it is full, expired entries go first, then any.
//
// A save through the Manager ([Manager.Save]), and [Manager.Forget] (call
// it after saving through the store yourself, as after a login), end the
// key's entry at once. A save anywhere else (another process, or this one
// straight to the store) is seen within ttl. A TokenSource made alone,
// with NewTokenSource, has no such cache: it reads the store on every call
// for a missing key.
func WithNotFoundCache(ttl time.Duration, size int) Option {
	return func(o *options) {
		o.missTTL, o.missSize = ttl, size
		if ttl <= 0 {
			o.missTTL = -1
		}
	}
}

// missShards splits the cache so that callers asking for different
// missing keys rarely meet on one lock.
const missShards = 16

// missCache remembers reads that found no token, for ttl, for at most
// about max keys.
type missCache struct {
	ttl    int64 // nanoseconds
	max    int   // per shard
	seed   maphash.Seed
	shards [missShards]missShard
}

type missShard struct {
	mu  sync.Mutex
	gen uint64           // moves at every forget: a read older than it records nothing
	m   map[string]int64 // key -> when the read that found nothing began (unix nanos)
}

// newMissCache returns the cache o asks for, or nil when it is off.
func newMissCache(o *options) *missCache {
	ttl, size := o.missTTL, o.missSize
	switch {
	case ttl < 0:
		return nil
	case ttl == 0:
		ttl = DefaultNotFoundTTL
	}
	if size <= 0 {
		size = DefaultNotFoundSize
	}
	return &missCache{ttl: int64(ttl), max: max(1, size/missShards+min(1, size%missShards)), seed: maphash.MakeSeed()}
}

func (c *missCache) shard(key string) *missShard {
	return &c.shards[maphash.String(c.seed, key)%missShards]
}

// hit reports whether a read for key that found nothing is still trusted
// at now; gen is to be passed to record after a read that found nothing.
func (c *missCache) hit(key string, now int64) (hit bool, gen uint64) {
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if at, ok := sh.m[key]; ok {
		// A clock that stepped back ends the entry: better one read more
		// than one entry trusted for as long as the step.
		if at <= now && now < satAdd(at, c.ttl) {
			return true, sh.gen
		}
		delete(sh.m, key)
	}
	return false, sh.gen
}

// record remembers that a read of key, begun at at, found nothing, unless
// the key was forgotten (a save here) since hit returned gen; it reports
// whether it did.
func (c *missCache) record(key string, gen uint64, at int64) bool {
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen != gen {
		return false
	}
	if sh.m == nil {
		sh.m = map[string]int64{}
	}
	if _, ok := sh.m[key]; !ok && len(sh.m) >= c.max {
		for k, t := range sh.m {
			if at < t || at >= satAdd(t, c.ttl) {
				delete(sh.m, k)
			}
		}
		for k := range sh.m {
			if len(sh.m) < c.max {
				break
			}
			delete(sh.m, k)
		}
	}
	sh.m[key] = at
	return true
}

// forget ends key's entry, and any read of it under way.
func (c *missCache) forget(key string) {
	sh := c.shard(key)
	sh.mu.Lock()
	sh.gen++
	delete(sh.m, key)
	sh.mu.Unlock()
}

// len is how many keys the cache holds.
func (c *missCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// loadCold reads the source's token for a cold start, through its
// Manager's cache of missing keys when it has one.
func (s *TokenSource) loadCold(ctx context.Context) (*oauth2.Token, error) {
	c := s.miss
	if c == nil {
		return s.store.Load(ctx, s.key)
	}
	now := s.nowNanos()
	hit, gen := c.hit(s.key, now)
	if hit {
		return nil, ErrTokenNotFound
	}
	tok, err := s.store.Load(ctx, s.key)
	if errors.Is(err, ErrRevoked) {
		// A tombstone is no miss: served from the cache, it would read as
		// a merchant that never connected. The source paces its looks at
		// a revoked key (see dropRevokedLocked) as the cache would.
		return tok, err
	}
	if errors.Is(err, ErrTokenNotFound) && !c.record(s.key, gen, now) {
		// A save in this process (Manager.Save, Forget) overlapped the
		// read: what it found is not to be served either.
		return s.store.Load(ctx, s.key)
	}
	return tok, err
}

// Save saves tok for key through the Manager's store, the way to store a
// merchant's first token (from [Exchange] or [DeviceAccessToken]) in a
// process that serves it: it ends the Manager's memory that the key was
// missing (see [WithNotFoundCache]), so the next Token() for key reads the
// store and serves tok. Like the store's Save it refuses, with an error
// matching [ErrSuperseded], to replace a token that expires later. A
// source that still serves an older token for key goes on serving it
// until it refreshes; call Forget as well to have it load tok now.
func (m *Manager) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	if tok == nil {
		return &StoreError{Op: "save", Key: key, Err: errors.New("no token to save")}
	}
	if m.sh.miss != nil {
		m.sh.miss.forget(key) // before the save: a read it overlaps reads again
	}
	err := m.sh.store.Save(ctx, key, tok)
	if m.sh.miss != nil {
		m.sh.miss.forget(key) // after the save: a read it overlapped records nothing
	}
	if err == nil || errors.Is(err, ErrSuperseded) {
		return err
	}
	return &StoreError{Op: "save", Key: key, Err: scrubTokens(err, tok)}
}

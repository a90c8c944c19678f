package ucoauth

import (
	"hash/maphash"
	"sync"
	"time"
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
func WithNotFoundCache(ttl time.Duration, size int) ManagerOption {
	return managerOption(func(o *managerOptions) {
		o.missTTL, o.missSize = ttl, size
		if ttl <= 0 {
			o.missTTL = -1
		}
	})
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

// newMissCache returns the cache for ttl and size (see WithNotFoundCache),
// or nil when it is off.
func newMissCache(ttl time.Duration, size int) *missCache {
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

package ucoauth

import (
	"hash/maphash"
	"sync"

	"golang.org/x/oauth2"
)

// Manager hands out one TokenSource per key, all sharing one config, store
// and set of options: the way to serve many merchants from one process. It
// guarantees what a TokenSource alone cannot: that two parts of a program
// asking for the same merchant share one source, and so one refresh.
//
// Create it with NewManager; the zero value is not usable. Sources live in
// sharded maps: a sync.Map node per merchant costs more
// memory, and one lock would make Source a point of contention.
type Manager struct {
	sh     *shared
	seed   maphash.Seed
	shards [64]shard
}

type shard struct {
	mu sync.RWMutex
	m  map[string]*TokenSource
}

// NewManager returns a Manager. The options apply to every source it creates.
func NewManager(cfg *oauth2.Config, store TokenStore, opts ...Option) *Manager {
	return &Manager{sh: newShared(cfg, store, opts), seed: maphash.MakeSeed()}
}

func (m *Manager) shard(key string) *shard {
	return &m.shards[maphash.String(m.seed, key)%uint64(len(m.shards))]
}

// Source returns the TokenSource for key, creating it on first use. It does
// no I/O.
func (m *Manager) Source(key string) *TokenSource {
	sh := m.shard(key)
	sh.mu.RLock()
	s := sh.m[key]
	sh.mu.RUnlock()
	if s != nil {
		return s
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s = sh.m[key]; s == nil {
		if sh.m == nil {
			sh.m = map[string]*TokenSource{}
		}
		s = m.sh.source(key)
		sh.m[key] = s
	}
	return s
}

// Forget drops key's source, for a merchant that disconnected. The stored
// token is left alone; use the source's Revoke to remove it.
func (m *Manager) Forget(key string) {
	sh := m.shard(key)
	sh.mu.Lock()
	delete(sh.m, key)
	sh.mu.Unlock()
}

package ucoauth

import (
	"sync"

	"golang.org/x/oauth2"
)

// Manager hands out one TokenSource per key, all sharing one config, store
// and set of options: the way to serve many merchants from one process. It
// guarantees what a TokenSource alone cannot: that two parts of a program
// asking for the same merchant share one source, and so one refresh.
type Manager struct {
	cfg   *oauth2.Config
	store TokenStore
	o     *options

	sources sync.Map // key -> *TokenSource
}

// NewManager returns a Manager. The options apply to every source it creates.
func NewManager(cfg *oauth2.Config, store TokenStore, opts ...Option) *Manager {
	if cfg == nil || store == nil {
		panic("ucoauth: NewManager needs a non-nil config and store")
	}
	return &Manager{cfg: cfg, store: store, o: newOptions(opts)}
}

// Source returns the TokenSource for key, creating it on first use. It does
// no I/O.
func (m *Manager) Source(key string) *TokenSource {
	if s, ok := m.sources.Load(key); ok {
		return s.(*TokenSource)
	}
	s, _ := m.sources.LoadOrStore(key, newTokenSource(m.cfg, m.store, key, m.o))
	return s.(*TokenSource)
}

// Forget drops key's source, for a merchant that disconnected. The stored
// token is left alone; use the source's Revoke to remove it.
func (m *Manager) Forget(key string) { m.sources.Delete(key) }

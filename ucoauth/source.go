package ucoauth

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// TokenSource is an oauth2.TokenSource for one merchant that refreshes its
// token before it expires and persists every new token in a TokenStore.
//
// A token has three states. While fresh it is served from memory with no
// lock, store I/O, allocation or even a clock read: freshness is judged
// against a process-wide coarse clock (10 ms ticks, read ahead of real time,
// so it can only err towards checking the precise clock). Inside the
// early-refresh window it is stale: still served, while one background
// refresh replaces it. Once expired it is invalid: callers wait for that one
// refresh, or for their own context.
//
// Create one TokenSource per key with NewTokenSource (or a Manager) and
// share it; it is safe for concurrent use. Close it when done: that stops
// its background work. The zero value is not usable. The returned tokens are
// shared and must not be modified.
type TokenSource struct {
	*shared
	key string

	// The token and its one flight (load, refresh or revoke). The struct
	// stays at 64 bytes: a process may hold 100,000 sources, so whatever
	// is rarely needed lives behind h.
	cache
	h atomic.Pointer[health] // nil while nothing worth recording happened
}

// health is the rarely-changing part of a source: what the health policy
// decided, and the source's background work. It is never modified once
// published; writers copy it under mu (see apply and update).
type health struct {
	policy
	bg    *background // nil until the first background goroutine
	retry *retryHold  // the lock a save being retried keeps, or nil
}

// background tracks the goroutines a source started, so Close can stop and
// wait for them.
type background struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	running int // guarded by the source's mu
	saving  int // saves being retried, guarded by the source's mu (see spawnSaving)
}

// shared is what every source of a Manager has in common.
type shared struct {
	cfg   *oauth2.Config
	store TokenStore
	o     *options
	pc    policyConfig
	miss  *missCache // a Manager's missing keys; nil for a source made alone
}

// ErrClosed is returned by a TokenSource that was closed (by Close, or by
// its Manager's Forget, Close or idle eviction) once it has no valid token
// left to serve. Ask the Manager for the key again.
var ErrClosed = errors.New("ucoauth: token source is closed")

// NewTokenSource returns a TokenSource for key in store, refreshing through
// cfg's token endpoint. It does no I/O: the token is loaded on first use.
func NewTokenSource(cfg *oauth2.Config, store TokenStore, key string, opts ...Option) *TokenSource {
	o := newOptions()
	for _, opt := range opts {
		opt.applySource(o)
	}
	return newShared(cfg, store, o).source(key)
}

func newShared(cfg *oauth2.Config, store TokenStore, o *options) *shared {
	if cfg == nil || store == nil {
		panic("ucoauth: a TokenSource needs a non-nil config and store")
	}
	o.settle()
	return &shared{cfg: cfg, store: store, o: o, pc: newPolicyConfig(o)}
}

func (sh *shared) source(key string) *TokenSource { return &TokenSource{shared: sh, key: key} }

// Key returns the store key this source serves.
func (s *TokenSource) Key() string { return s.key }

// String describes the source without revealing its token.
func (s *TokenSource) String() string { return fmt.Sprintf("ucoauth.TokenSource(%q)", s.key) }

// LogValue describes the source for log/slog without its secrets.
func (s *TokenSource) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("key", s.key)}
	if st := s.cur.Load(); st != nil {
		attrs = append(attrs, slog.Any("token", LogToken(st.tok)))
	}
	return slog.GroupValue(attrs...)
}

func (s *TokenSource) closedErr() error {
	return fmt.Errorf("%w (key %q)", ErrClosed, s.key)
}

// persist is the source's persistence.
func (s *TokenSource) persist() persister {
	return persister{store: s.store, key: s.key, o: s.o, miss: s.miss}
}

// refresher is a refresh of the source.
func (s *TokenSource) refresher() refresher {
	return refresher{persister: s.persist(), cfg: s.cfg, own: s}
}

// nowNanos reads the precise clock. On the real clock it also keeps the
// coarse clock running, which stops itself when nobody comes here.
func (s *TokenSource) nowNanos() int64 {
	if s.o.custom {
		return unixNanos(s.o.now())
	}
	now := time.Now().UnixNano()
	coarseRenew(now)
	return now
}

// pol is the health policy's state.
func (s *TokenSource) pol() policy {
	if h := s.h.Load(); h != nil {
		return h.policy
	}
	return policy{}
}

// update replaces the health record with a modified copy. s.mu must be held.
func (s *TokenSource) update(fn func(*health)) *health {
	var n health
	if old := s.h.Load(); old != nil {
		n = *old
	}
	fn(&n)
	s.h.Store(&n)
	return &n
}

// apply has the health policy take e, which happened at now. s.mu must be
// held.
func (s *TokenSource) apply(e event, now int64) *health {
	return s.update(func(h *health) { h.policy = step(h.policy, e, now, s.pc) })
}

// dropRevokedLocked forgets the token this source holds, because the store
// says its grant was revoked, and records err, which matches ErrRevoked
// and so ErrReauthorizationRequired: callers get it, and the store is
// looked at again for a new authorization at most every lookEvery. s.mu
// must be held.
func (s *TokenSource) dropRevokedLocked(err error) {
	s.cur.Store(nil)
	s.apply(event{kind: evRevoked, err: err}, unixNanos(s.o.now()))
}

// curTok is the token the source holds, or nil.
func (s *TokenSource) curTok() *oauth2.Token {
	if st := s.cur.Load(); st != nil {
		return st.tok
	}
	return nil
}

// The source is the owner of its refreshes and saves (see refreshOwner).

func (s *TokenSource) policyNow() policy   { return s.pol() }
func (s *TokenSource) rejectedTok() string { return s.pol().rejected }

func (s *TokenSource) serving(tok *oauth2.Token) bool {
	st := s.cur.Load()
	return st != nil && st.tok == tok
}

func (s *TokenSource) heldRetry() *retryHold {
	if h := s.h.Load(); h != nil {
		return h.retry
	}
	return nil
}

func (s *TokenSource) keepRetry(r *retryHold) {
	s.mu.Lock()
	s.update(func(h *health) { h.retry = r })
	s.mu.Unlock()
}

func (s *TokenSource) retryEnded(r *retryHold) {
	s.mu.Lock()
	if h := s.h.Load(); h != nil && (h.retry == r || h.lockLost != nil) {
		s.update(func(h *health) {
			if h.retry == r {
				h.retry = nil
			}
			h.policy = step(h.policy, event{kind: evRetryEnded}, 0, s.pc)
		})
	}
	s.mu.Unlock()
}

func (s *TokenSource) lostLock(err error) {
	s.mu.Lock()
	s.apply(event{kind: evLockLost, err: err}, 0)
	s.mu.Unlock()
}

func (s *TokenSource) revokedWhileSaving(tok *oauth2.Token, err error) {
	s.mu.Lock()
	if s.serving(tok) {
		s.dropRevokedLocked(err)
	}
	s.mu.Unlock()
}

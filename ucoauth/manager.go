package ucoauth

import (
	"context"
	"errors"
	"hash/maphash"
	"math"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// DefaultIdleTimeout is how long a Manager keeps a source nobody asked it
// for. A dropped source costs one store read when its merchant comes back.
const DefaultIdleTimeout = time.Hour

// Manager hands out one TokenSource per key, all sharing one config, store
// and set of options: the way to serve many merchants from one process. It
// guarantees what a TokenSource alone cannot: that two parts of a program
// asking for the same merchant share one source, and so one refresh.
//
// A process fed arbitrary merchant IDs must not grow forever, so a source
// that Source was not asked for during the idle timeout
// ([DefaultIdleTimeout], see [WithIdleTimeout]) is dropped and closed. The
// sweeps that find them are amortised over Source calls: the Manager starts
// no goroutine of its own, and TokenSource.Token is untouched. Ask Source
// for the key each time (or use Client), rather than keeping a source.
//
// A key the store does not hold is read once per second at most, however
// often it is asked for (see [WithNotFoundCache]); [Manager.Save] and
// Forget end that at once.
//
// Create it with NewManager and Close it when done; the zero value is not
// usable. Sources live in sharded maps: a sync.Map node per merchant costs
// more memory, and one lock would make Source a point of contention.
type Manager struct {
	sh     *shared
	idle   time.Duration
	seed   maphash.Seed
	closed atomic.Bool
	wg     sync.WaitGroup // closings of evicted sources still waiting on work
	shards [64]shard
}

type shard struct {
	mu        sync.RWMutex
	m         map[string]*entry
	nextSweep atomic.Int64 // unix nanos
}

// entry is a source and when Source last handed it out (unix nanos, written
// only when it moved by an eighth of the idle timeout).
type entry struct {
	src  *TokenSource
	used atomic.Int64
}

// NewManager returns a Manager. Its options are every [Option], which
// applies to every source it creates, and the Manager's own
// ([WithIdleTimeout], [WithNotFoundCache]).
func NewManager(cfg *oauth2.Config, store TokenStore, opts ...ManagerOption) *Manager {
	mo := &managerOptions{source: *newOptions(), idle: DefaultIdleTimeout}
	for _, opt := range opts {
		opt.applyManager(mo)
	}
	sh := newShared(cfg, store, &mo.source)
	sh.miss = newMissCache(mo.missTTL, mo.missSize)
	return &Manager{sh: sh, idle: mo.idle, seed: maphash.MakeSeed()}
}

// WithIdleTimeout sets how long a Manager keeps a source that Source was not
// asked for; the default is [DefaultIdleTimeout]. Zero or less keeps every
// source until Forget or Close.
func WithIdleTimeout(d time.Duration) ManagerOption {
	return managerOption(func(o *managerOptions) { o.idle = d })
}

func (m *Manager) shard(key string) *shard {
	return &m.shards[maphash.String(m.seed, key)%uint64(len(m.shards))]
}

// now is a cheap reading of the sources' clock: the coarse clock when it
// runs, which is ahead by at most 20 ms.
func (m *Manager) now() int64 {
	if m.sh.o.custom {
		return unixNanos(m.sh.o.now())
	}
	if n := coarseNanos.Load(); n != math.MaxInt64 {
		return n
	}
	n := time.Now().UnixNano()
	coarseRenew(n)
	return n
}

// Source returns the TokenSource for key, creating it on first use. It does
// no I/O. After Close it returns a closed source.
func (m *Manager) Source(key string) *TokenSource {
	now := m.now()
	sh := m.shard(key)
	idle := m.idle
	if sweepDue(sh.nextSweep.Load(), now, idle) {
		m.sweep(sh, now)
	}
	sh.mu.RLock()
	e := sh.m[key]
	if e != nil && idle > 0 && now-e.used.Load() > int64(idle/8) {
		e.used.Store(now) // under the read lock: a sweep cannot interleave
	}
	sh.mu.RUnlock()
	if e != nil {
		return e.src
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e = sh.m[key]; e == nil {
		s := m.sh.source(key)
		if m.closed.Load() {
			s.shutdown()
			return s
		}
		if sh.m == nil {
			sh.m = map[string]*entry{}
		}
		e = &entry{src: s}
		e.used.Store(now)
		sh.m[key] = e
	}
	return e.src
}

// sweep drops the shard's sources that were idle for the idle timeout. It
// runs at most every quarter of that per shard.
func (m *Manager) sweep(sh *shard, now int64) {
	idle := m.idle
	if idle <= 0 {
		sh.nextSweep.Store(math.MaxInt64)
		return
	}
	sh.mu.Lock()
	if !sweepDue(sh.nextSweep.Load(), now, idle) {
		sh.mu.Unlock()
		return
	}
	sh.nextSweep.Store(satAdd(now, int64(sweepEvery(idle))))
	var work []*background
	for k, e := range sh.m {
		if u := e.used.Load(); u > now {
			e.used.Store(now) // used "later": the clock stepped back
		} else if now-u > int64(idle) {
			// A source still saving a rotated token (or in a flight)
			// stays until a later sweep: closing it would lose the token.
			bg, ok := e.src.shutdownIdle()
			if !ok {
				continue
			}
			delete(sh.m, k)
			// Closed and counted before the shard is released: a Close
			// that empties this shard next must wait for this work too.
			if bg != nil {
				m.wg.Add(1)
				work = append(work, bg)
			}
		}
	}
	sh.mu.Unlock()
	if testHookSwept != nil && len(work) > 0 {
		testHookSwept()
	}
	// The caller of Source does not wait for it; Close does.
	for _, bg := range work {
		go func() {
			defer m.wg.Done()
			bg.wg.Wait()
		}()
	}
}

// sweepEvery is how often a shard is swept for sources idle for idle.
func sweepEvery(idle time.Duration) time.Duration { return max(idle/4, time.Millisecond) }

// sweepDue reports whether a shard whose next sweep is at next must be
// swept at now: next has come, or the clock stepped back from when it was
// set (it lies more than two intervals ahead: the coarse clock's lead is
// no step), which would otherwise put off sweeps, and let the Manager grow,
// for as long as the step.
func sweepDue(next, now int64, idle time.Duration) bool {
	return now >= next || (idle > 0 && next-now > 2*int64(sweepEvery(idle)))
}

// testHookSwept, when set by a test, runs after a sweep that evicted
// sources with background work released its shard.
var testHookSwept func()

// Forget drops key's source, for a merchant that disconnected, and stops
// its background work, waiting for it. The stored token is left alone; use
// Revoke to remove it. It also ends the Manager's memory that key was
// missing (see [WithNotFoundCache]): after saving a merchant's new token
// through the store, Forget has the next Token() read it.
func (m *Manager) Forget(key string) {
	if m.sh.miss != nil {
		m.sh.miss.forget(key)
	}
	sh := m.shard(key)
	sh.mu.Lock()
	e := sh.m[key]
	delete(sh.m, key)
	sh.mu.Unlock()
	if e != nil {
		e.src.Close()
	}
}

// Revoke revokes key's grant at UltraCart, leaves a tombstone in the store
// (see [TokenSource.Revoke]) and forgets its source.
func (m *Manager) Revoke(ctx context.Context, key string) error {
	if err := m.Source(key).Revoke(ctx); err != nil {
		return err
	}
	m.Forget(key)
	return nil
}

// Client returns an HTTP client for key's API calls (see [NewClient]). It
// asks the Manager for the source on every request, so it survives idle
// eviction and Forget.
func (m *Manager) Client(ctx context.Context, key string) *http.Client {
	return NewClient(ctx, keySource{m, key})
}

// Len returns how many sources the Manager holds.
func (m *Manager) Len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// Keys returns the keys of the sources the Manager holds, sorted.
func (m *Manager) Keys() []string {
	var keys []string
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		for k := range sh.m {
			keys = append(keys, k)
		}
		sh.mu.RUnlock()
	}
	sort.Strings(keys)
	return keys
}

// Status returns the health of key's source without creating one: a key
// the Manager does not hold is [StateNotLoaded].
func (m *Manager) Status(key string) Status {
	sh := m.shard(key)
	sh.mu.RLock()
	e := sh.m[key]
	sh.mu.RUnlock()
	if e == nil {
		return Status{Key: key, State: StateNotLoaded}
	}
	return e.src.Status()
}

// Close closes every source and waits for their background work. Sources
// asked for afterwards are closed from the start. It always returns nil.
func (m *Manager) Close() error {
	m.closed.Store(true)
	var all []*TokenSource
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		for _, e := range sh.m {
			all = append(all, e.src)
		}
		sh.m = nil
		sh.mu.Unlock()
	}
	var wg sync.WaitGroup
	for _, s := range all {
		if bg := s.shutdown(); bg != nil {
			wg.Go(bg.wg.Wait)
		}
	}
	wg.Wait()
	m.wg.Wait()
	return nil
}

// keySource is key's source in a Manager, looked up on every use.
type keySource struct {
	m   *Manager
	key string
}

func (k keySource) Token() (*oauth2.Token, error) { return k.m.Source(k.key).Token() }
func (k keySource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	return k.m.Source(k.key).TokenContext(ctx)
}
func (k keySource) invalidate(tok *oauth2.Token) bool { return k.m.Source(k.key).invalidate(tok) }
func (k keySource) origin() string                    { return k.m.sh.cfg.Endpoint.TokenURL }
func (k keySource) provider() Provider                { return k.m.sh.o.wire().prov() }

func (k keySource) refusedFor(tok *oauth2.Token, req *http.Request) bool {
	return k.m.Source(k.key).refusedFor(tok, req)
}

func (k keySource) hold(tok *oauth2.Token, on string) *RefusedError {
	return k.m.Source(k.key).hold(tok, on)
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

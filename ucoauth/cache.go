package ucoauth

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// The token cache: the token served, in one of three states (fresh, stale,
// invalid), and the one flight (load, refresh or revoke) that replaces it.
// It knows nothing of stores or servers.

// cache holds a source's token and its flight. The hot path reads cur and
// nothing else; everything else happens under mu.
type cache struct {
	cur  atomic.Pointer[state] // nil until loaded
	busy atomic.Bool           // a flight is running: the stale path need not lock

	mu       sync.Mutex
	inflight *call
}

// state is a token with its derived deadlines (unix nanoseconds), computed
// once when installed so that the hot path only compares. Before stale it
// is fresh, before expire stale (served while one refresh replaces it),
// from expire on invalid.
type state struct {
	tok    *oauth2.Token
	stale  int64 // from here on, refresh in the background
	expire int64 // from here on, do not serve
}

// newState derives a token's deadlines from the lifetime it was granted
// (its ExpiresIn, or what remains when that is unknown). The early window
// (lt.early) is capped at half the lifetime and the expiry margin at a
// tenth of it, so that a short or unknown lifetime never causes a refresh
// loop. A token without an expiry (saved by hand) is served but refreshed
// at once, never trusted forever; nor is one whose expiry lies beyond the
// provider's longest lifetime lt.max (year 3000 in a hand-edited record):
// it counts as expiring after lt.max. A provider that refreshes by age
// (lt.age) makes a token stale that long after it was issued, if that
// comes first.
func newState(tok *oauth2.Token, now time.Time, lt lifetimes) *state {
	if tok.Expiry.IsZero() {
		return newStateAt(tok, now, now.Add(FallbackLifetime))
	}
	expiry := tok.Expiry
	if limit := now.Add(lt.max); expiry.After(limit) {
		expiry = limit
	}
	remaining := expiry.Sub(now)
	if remaining <= 0 {
		return newStateAt(tok, expiry, expiry)
	}
	lifetime := remaining
	if g := lt.granted(tok); g > 0 {
		lifetime = g
	}
	margin := min(10*time.Second, lifetime/10)
	window := max(min(lt.early, lifetime/2), margin)
	staleAt := expiry.Add(-window)
	if g := lt.granted(tok); lt.age > 0 && g > lt.age {
		// Issued at expiry - g; refreshed by age, unless the early
		// window comes first.
		if byAge := tok.Expiry.Add(lt.age - g); byAge.Before(staleAt) {
			staleAt = byAge
		}
	}
	return newStateAt(tok, staleAt, expiry.Add(-margin))
}

func newStateAt(tok *oauth2.Token, staleAt, expireAt time.Time) *state {
	return &state{tok: tok, stale: unixNanos(staleAt), expire: unixNanos(expireAt)}
}

// rejectedState holds a token the API refused: never served, but its
// refresh token is kept for the refresh.
func rejectedState(tok *oauth2.Token) *state {
	return &state{tok: tok, stale: math.MinInt64, expire: math.MinInt64}
}

func (st *state) rejected() bool             { return st.expire == math.MinInt64 }
func (st *state) freshAt(now time.Time) bool { return unixNanos(now) < st.stale }
func (st *state) validAt(now time.Time) bool { return unixNanos(now) < st.expire }

// Time far outside int64 nanoseconds (before 1678, after 2262) saturates.
var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// unixNanos is t.UnixNano, saturating instead of overflowing.
func unixNanos(t time.Time) int64 {
	switch {
	case t.Before(minNanoTime):
		return math.MinInt64
	case t.After(maxNanoTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// call is a flight. Its done channel is made only when someone waits:
// a cold start that nobody else joins costs no channel.
type call struct {
	done  chan struct{} // nil until a waiter asks (under the cache's mu)
	ended bool          // under the cache's mu
	st    *state
	err   error
	load  loadDeadline // the deadline of a cold start's store read
}

// closedChan is the done channel of a flight that ended before anyone
// waited for it.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// beginLocked starts a flight. c.mu must be held.
func (c *cache) beginLocked() *call {
	f := &call{}
	c.inflight = f
	c.busy.Store(true)
	return f
}

// doneLocked is the channel that closes when flight f ends. c.mu must be
// held.
func (c *cache) doneLocked(f *call) <-chan struct{} {
	switch {
	case f.done != nil:
	case f.ended:
		return closedChan
	default:
		f.done = make(chan struct{})
	}
	return f.done
}

// endLocked ends flight f with its result, releasing c.mu. Every flight
// ends with a state or an error, never neither.
func (c *cache) endLocked(f *call, st *state, err error) {
	c.inflight = nil
	c.busy.Store(false)
	f.st, f.err, f.ended = st, err, true
	done := f.done
	c.mu.Unlock()
	if done != nil {
		close(done)
	}
}

// wait waits for flight f (done, from doneLocked) or for ctx; now is when
// the caller came, so that a token that expired meanwhile is still
// served to it with a failure.
func (f *call) wait(ctx context.Context, done <-chan struct{}, now int64, key string) (*oauth2.Token, error) {
	select {
	case <-done:
		if f.err != nil && (f.st == nil || now >= f.st.expire) {
			return nil, f.err
		}
		return f.st.tok, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("ucoauth: waiting for token %q: %w", key, ctx.Err())
	}
}

// loadDeadline is a context with a deadline and no timer until someone
// asks for Done: a store that never blocks (the memory store) never does,
// and a cold start then costs no timer. Its zero value is not usable; see
// start.
type loadDeadline struct {
	context.Context // the values; never cancelled
	deadline        time.Time
	once            sync.Once
	done            chan struct{}
	timer           *time.Timer
	expired         atomic.Bool
}

// start arms the deadline d from now, a reading of the real clock (or 0:
// read it).
func (l *loadDeadline) start(d time.Duration, now int64) *loadDeadline {
	l.Context = context.Background()
	t := time.Now()
	if now != 0 {
		t = time.Unix(0, now)
	}
	l.deadline = t.Add(min(d, math.MaxInt64/2))
	return l
}

// Deadline implements context.Context.
func (l *loadDeadline) Deadline() (time.Time, bool) { return l.deadline, true }

// Done implements context.Context: it starts the timer.
func (l *loadDeadline) Done() <-chan struct{} {
	l.once.Do(func() {
		l.done = make(chan struct{})
		l.timer = time.AfterFunc(time.Until(l.deadline), func() {
			l.expired.Store(true)
			close(l.done)
		})
	})
	return l.done
}

// Err implements context.Context.
func (l *loadDeadline) Err() error {
	if l.expired.Load() {
		return context.DeadlineExceeded
	}
	return nil
}

// stop ends the deadline: its timer, if any, stops, and no later Done
// starts one (it returns nil: never done).
func (l *loadDeadline) stop() {
	l.once.Do(func() {})
	if l.timer != nil {
		l.timer.Stop()
	}
}

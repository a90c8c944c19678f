package ucoauth

import (
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// Defaults for a TokenSource's options.
const (
	// DefaultEarlyRefresh is how long before expiry a token is refreshed in
	// the background. It is capped at half a token's remaining lifetime, so
	// that short-lived tokens do not refresh continuously.
	DefaultEarlyRefresh = 5 * time.Minute
	// DefaultMinBackoff and DefaultMaxBackoff bound the exponential, jittered
	// wait between failed refreshes of one key.
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 5 * time.Minute
)

// Option configures a TokenSource.
type Option func(*options)

type options struct {
	early      time.Duration
	timeout    time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration
	simpleKey  string
	logger     *slog.Logger
	hook       func(RefreshEvent)
	now        func() time.Time
	custom     bool // now is not time.Now: the coarse clock does not apply
	client     *http.Client
	revokeURL  string
	idle       time.Duration // Manager: drop sources idle this long; <= 0 never
	missTTL    time.Duration // Manager: trust a read that found nothing this long; 0 default, < 0 never
	missSize   int           // Manager: for this many keys at most; <= 0 default
}

func newOptions(opts []Option) *options {
	o := &options{
		early:      DefaultEarlyRefresh,
		timeout:    DefaultTimeout,
		minBackoff: DefaultMinBackoff,
		maxBackoff: DefaultMaxBackoff,
		logger:     slog.New(slog.DiscardHandler),
		now:        time.Now,
		idle:       DefaultIdleTimeout,
	}
	for _, opt := range opts {
		opt(o)
	}
	if o.maxBackoff < o.minBackoff {
		o.maxBackoff = o.minBackoff
	}
	return o
}

// WithEarlyRefresh sets how long before expiry the token is refreshed in the
// background while callers keep getting the current one. Zero refreshes only
// once the token has expired, making callers wait.
func WithEarlyRefresh(d time.Duration) Option {
	return func(o *options) { o.early = max(d, 0) }
}

// WithRefreshTimeout bounds each call to UltraCart's token endpoint. The
// default is [DefaultTimeout]. A refresh is never cancelled by the context of
// a caller that is waiting for it: cancelling halfway could lose a rotated
// refresh token.
//
// A refresh holds the store's lock for up to three times d: the store
// reads, the lock wait and the token request share twice d, and the save
// has d more. A lock that expires on its own (redisstore.WithLockTTL for
// Redis, sqlstore.WithLeaseTTL for SQLite, 100 s by default) must outlive
// that, or a slow refresh can lose its lock to another process, which then
// sends the same refresh token.
func WithRefreshTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.timeout = d
		}
	}
}

// WithBackoff sets the bounds of the jittered exponential wait after failed
// refreshes. A 429's Retry-After is honoured when it asks for longer.
func WithBackoff(min, max time.Duration) Option {
	return func(o *options) {
		if min > 0 {
			o.minBackoff = min
		}
		if max > 0 {
			o.maxBackoff = max
		}
	}
}

// WithSimpleKey sends key as UltraCart's X-UltraCart-Simple-Key header on
// token and revoke calls.
func WithSimpleKey(key string) Option {
	return func(o *options) { o.simpleKey = key }
}

// WithLogger logs refreshes and failures to l. Tokens are logged only as
// fingerprints; see [LogToken].
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithRefreshHook calls fn after every refresh that reached UltraCart, so
// that applications can log, count or mirror tokens. It runs in the
// refreshing goroutine once the new token is saved, served and the store's
// lock released. fn must not modify the token.
func WithRefreshHook(fn func(RefreshEvent)) Option {
	return func(o *options) { o.hook = fn }
}

// WithClock replaces time.Now, for tests and simulations. Expiry, the early
// refresh window and backoff are all measured on it. A reading before 1700
// or after 2200 is taken as that bound: a stopped clock, on which nothing
// loops, where the nanosecond deadlines would saturate.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now, o.custom = boundedClock(now), true
		}
	}
}

// clockMin and clockMax bound what a custom clock may read. Deadlines are
// int64 unix nanoseconds (years 1678 to 2262): at that edge a token's
// expiry saturates to the very reading it is compared with, so every token
// would look expired the moment it arrived, and each call would refresh.
// A reading beyond the bounds is the bound: a stopped clock, on which
// tokens age no more and nothing loops.
var (
	clockMin = time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC)
	clockMax = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func boundedClock(now func() time.Time) func() time.Time {
	return func() time.Time {
		switch t := now(); {
		case t.Before(clockMin):
			return clockMin
		case t.After(clockMax):
			return clockMax
		default:
			return t
		}
	}
}

// WithHTTPClient sets the client used to reach UltraCart's token and revoke
// endpoints. The default has no timeout of its own; each call is bounded by
// [WithRefreshTimeout].
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) { o.client = c }
}

// WithRevokeURL sets the revoke endpoint, for a server whose layout differs
// from UltraCart's (where it is the token URL's sibling ".../oauth/revoke").
// Like every OAuth endpoint it must be https, or plain http to loopback.
func WithRevokeURL(url string) Option {
	return func(o *options) { o.revokeURL = url }
}

// WithIdleTimeout sets how long a Manager keeps a source that Source was not
// asked for; the default is [DefaultIdleTimeout]. Zero or less keeps every
// source until Forget or Close. It does not apply to a lone TokenSource.
func WithIdleTimeout(d time.Duration) Option {
	return func(o *options) { o.idle = d }
}

// RefreshEvent describes one refresh that reached UltraCart. It prints and
// marshals (fmt, log/slog, encoding/json) with its token as fingerprints
// only; the fields themselves hold the real values.
type RefreshEvent struct {
	// Key is the store key whose token was refreshed.
	Key string
	// Token is the new token, or nil when UltraCart issued none.
	Token *oauth2.Token
	// Err is what went wrong. It may come with a Token: a token whose
	// expires_in was unusable (ErrBadExpiresIn), or one that could not be
	// saved (a *StoreError; the source keeps it and retries the save).
	Err error
	// Duration is how long the call to UltraCart took.
	Duration time.Duration
}

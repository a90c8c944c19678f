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

// Option configures a TokenSource: pass it to NewTokenSource, or to
// NewManager for every source of the Manager. Each constructor takes only
// the options it applies, so that none is silently ignored: every Option
// is a [ManagerOption]; those that say how to reach the server are
// [EndpointOption]s, which [Revoke] and [Exchange] take too; and
// [WithRevokeURL] is a [RevokeOption], which Revoke takes and Exchange
// does not.
type Option interface {
	ManagerOption
	applySource(*options)
}

// EndpointOption says how to reach and talk to the OAuth server: which
// [Provider], over which client, with which simple key and logger. It
// applies to every call that reaches the server: a TokenSource, a Manager,
// [Exchange], [DeviceAuth], [DeviceAccessToken] and [Revoke] alike.
type EndpointOption interface {
	RevokeOption
	ExchangeOption
}

// RevokeOption configures [Revoke]: every [EndpointOption] does, and
// [WithRevokeURL], which the calls that never revoke ([Exchange],
// [DeviceAuth], [DeviceAccessToken]) do not take.
type RevokeOption interface {
	Option
	applyRevoke(*options)
}

// ExchangeOption configures [Exchange], [DeviceAuth] and
// [DeviceAccessToken]: every [EndpointOption] does, and
// [WithAuthCodeOptions].
type ExchangeOption interface {
	applyExchange(*options)
}

// ManagerOption configures a Manager: every [Option] does, for each of its
// sources, and [WithIdleTimeout] and [WithNotFoundCache] for the Manager.
type ManagerOption interface {
	applyManager(*managerOptions)
}

// managerOptions are a Manager's settings: its sources' and its own.
type managerOptions struct {
	source   options
	idle     time.Duration // drop sources idle this long; <= 0 never
	missTTL  time.Duration // trust a read that found nothing this long; 0 default, < 0 never
	missSize int           // for this many keys at most; <= 0 default
}

// managerOption is a ManagerOption that is not an Option.
type managerOption func(*managerOptions)

func (f managerOption) applyManager(m *managerOptions) { f(m) }

// sourceOption is an Option.
type sourceOption func(*options)

func (f sourceOption) applySource(o *options)         { f(o) }
func (f sourceOption) applyManager(m *managerOptions) { f(&m.source) }

// endpointOption is an EndpointOption.
type endpointOption func(*options)

func (f endpointOption) applySource(o *options)         { f(o) }
func (f endpointOption) applyManager(m *managerOptions) { f(&m.source) }
func (f endpointOption) applyRevoke(o *options)         { f(o) }
func (f endpointOption) applyExchange(o *options)       { f(o) }

// revokeOption is a RevokeOption that is not an EndpointOption.
type revokeOption func(*options)

func (f revokeOption) applySource(o *options)         { f(o) }
func (f revokeOption) applyManager(m *managerOptions) { f(&m.source) }
func (f revokeOption) applyRevoke(o *options)         { f(o) }

// exchangeOption is an ExchangeOption that is not an EndpointOption.
type exchangeOption func(*options)

func (f exchangeOption) applyExchange(o *options) { f(o) }

// options are a TokenSource's settings, and what Revoke takes of them.
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
	provider   Provider                // nil means UltraCart
	authOpts   []oauth2.AuthCodeOption // Exchange, DeviceAuth: extra form fields
}

// newOptions returns the defaults, the same for every constructor.
func newOptions() *options {
	return &options{
		early:      DefaultEarlyRefresh,
		timeout:    DefaultTimeout,
		minBackoff: DefaultMinBackoff,
		maxBackoff: DefaultMaxBackoff,
		logger:     slog.New(slog.DiscardHandler),
		now:        time.Now,
	}
}

// settle reconciles options that were set independently.
func (o *options) settle() {
	if o.maxBackoff < o.minBackoff {
		o.maxBackoff = o.minBackoff
	}
}

// WithEarlyRefresh sets how long before expiry the token is refreshed in the
// background while callers keep getting the current one. Zero refreshes only
// once the token has expired, making callers wait.
func WithEarlyRefresh(d time.Duration) Option {
	return sourceOption(func(o *options) { o.early = max(d, 0) })
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
	return sourceOption(func(o *options) {
		if d > 0 {
			o.timeout = d
		}
	})
}

// WithBackoff sets the bounds of the jittered exponential wait after failed
// refreshes. A 429's Retry-After is honoured when it asks for longer.
func WithBackoff(min, max time.Duration) Option {
	return sourceOption(func(o *options) {
		if min > 0 {
			o.minBackoff = min
		}
		if max > 0 {
			o.maxBackoff = max
		}
	})
}

// WithSimpleKey sends key as UltraCart's X-UltraCart-Simple-Key header on
// token and revoke calls.
func WithSimpleKey(key string) EndpointOption {
	return endpointOption(func(o *options) { o.simpleKey = key })
}

// WithLogger logs refreshes and failures to l. Tokens are logged only as
// fingerprints; see [LogToken].
func WithLogger(l *slog.Logger) EndpointOption {
	return endpointOption(func(o *options) {
		if l != nil {
			o.logger = l
		}
	})
}

// WithRefreshHook calls fn after every refresh that reached UltraCart, so
// that applications can log, count or mirror tokens. It runs in the
// refreshing goroutine once the new token is saved, served and the store's
// lock released. fn must not modify the token.
func WithRefreshHook(fn func(RefreshEvent)) Option {
	return sourceOption(func(o *options) { o.hook = fn })
}

// WithClock replaces time.Now, for tests and simulations. Expiry, the early
// refresh window and backoff are all measured on it. A reading before 1700
// or after 2200 is taken as that bound: a stopped clock, on which nothing
// loops, where the nanosecond deadlines would saturate.
func WithClock(now func() time.Time) EndpointOption {
	return endpointOption(func(o *options) {
		if now != nil {
			o.now, o.custom = boundedClock(now), true
		}
	})
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
func WithHTTPClient(c *http.Client) EndpointOption {
	return endpointOption(func(o *options) { o.client = c })
}

// WithRevokeURL sets the revoke endpoint, for a server whose layout differs
// from UltraCart's (where it is the token URL's sibling ".../oauth/revoke").
// Like every OAuth endpoint it must be https, or plain http to loopback.
func WithRevokeURL(url string) RevokeOption {
	return revokeOption(func(o *options) { o.revokeURL = url })
}

// wire is what calls to OAuth endpoints take from o.
func (o *options) wire() wireOptions {
	return wireOptions{provider: o.provider, simpleKey: o.simpleKey, client: o.client, revokeURL: o.revokeURL, now: o.now}
}

// lifetimes is what a token's deadlines take from o and its provider's
// [RefreshPolicy].
func (o *options) lifetimes() lifetimes {
	pol := policyOf(o.wire().prov())
	return lifetimes{early: o.early, max: pol.MaxLifetime, age: pol.RefreshAfterAge}
}

// WithProvider selects the OAuth server's [Provider]; the default is
// [UltraCart]. It applies to every call: NewTokenSource, NewManager,
// Exchange, DeviceAccessToken and Revoke.
func WithProvider(p Provider) EndpointOption {
	return endpointOption(func(o *options) { o.provider = p })
}

// WithAuthCodeOptions adds form fields to [Exchange] and [DeviceAuth], such
// as oauth2.VerifierOption for PKCE.
func WithAuthCodeOptions(opts ...oauth2.AuthCodeOption) ExchangeOption {
	return exchangeOption(func(o *options) { o.authOpts = append(o.authOpts, opts...) })
}

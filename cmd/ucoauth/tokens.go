package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ucoauth/go-ucoauth/internal/record"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

const tokenHelp = `Prints the access token stored under KEY, and nothing else, on stdout. Take
it into a variable, and go on only if that worked, so that a failure never
sends an empty bearer:

  tok=$(ucoauth token M1) && curl -fsS -H "Authorization: Bearer $tok" \
       -H "X-UltraCart-Api-Version: 2017-03-01" "$ULTRACART_BASE_URL/order/orders"

(or "set -euo pipefail" and the two on their own lines, in a script).
Written inside curl's arguments, "$(ucoauth token M1)" fails silently: set
-e does not see a failed command substitution in another command's
arguments.

A token that would not last -min-validity (capped at half its lifetime) is
refreshed first; a -min-validity longer than the lifetime UltraCart grants
fails (exit status 1), since no token can last that long. The refresh runs
through the same TokenSource a program would use: under the store's lock,
saved before it is printed, and never refreshed twice when another process
got there first.
`

const refreshHelp = `Refreshes the token stored under KEY now, with its refresh token, and saves
the new one. It runs under the store's lock, so it never races another
process's refresh. The new token is described on stderr by fingerprints,
never printed.
`

const revokeHelp = `Revokes KEY's grant at UltraCart and replaces its token in the store with a
tombstone, which holds no secret and keeps any process that still holds the
grant from saving it back (see docs/tombstones.md). The merchant has to
connect again afterwards. A token UltraCart already considers dead is
replaced all the same; any other failure keeps the token, so that the revoke
can be tried again. A key with no token, or revoked already, is an error
(exit status 3): nothing was revoked, and a mistyped key must not pass for
done.

With a file: store, the key's lock file is removed too, once nobody holds
it (processes of go-ucoauth before this version waiting on it would not
notice; see tokenstore.File.RemoveLock). The directory's .write.lock, which
every key shares, stays.
`

// tokenCommand parses the flags a token-handling command shares and opens
// what it needs.
type tokenCommand struct {
	e       *env
	key     string
	timeout time.Duration
	cfg     *oauth2.Config
	store   ucoauth.TokenStore
	close   func()
	spec    string // the store spec, for revoke's lock file
	kept    bool   // a newer token was saved meanwhile and kept (see superseded)
}

func parseTokenCommand(e *env, name, help string, args []string, extra func(*flagSet)) (*tokenCommand, error) {
	fs := newFlagSet(e, name, "[flags] KEY", help)
	var s settings
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	if extra != nil {
		extra(fs)
	}
	s.storeFlag(fs)
	s.endpointFlags(fs)
	if err := fs.parse(args); err != nil {
		return nil, err
	}
	key, err := fs.oneKey()
	if err != nil {
		return nil, err
	}
	if *timeout <= 0 {
		return nil, usageErrorf("-timeout must be positive")
	}
	s.resolve(e.getenv)
	cfg, err := s.config()
	if err != nil {
		return nil, err
	}
	store, closeStore, err := openStore(s.store, e.getenv(envSealKeys), e.stderr)
	if err != nil {
		return nil, err
	}
	unshield := shield(e)
	return &tokenCommand{e: e, key: key, timeout: *timeout, cfg: cfg, store: store, spec: s.store,
		close: func() { unshield(); closeStore() }}, nil
}

// shield keeps the first SIGINT or SIGTERM from killing the process in the
// middle of a refresh: UltraCart may have rotated the refresh token, and the
// new one must reach the store. -timeout still bounds the run; a second
// signal exits at once.
func shield(e *env) (stop func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			fmt.Fprintln(e.stderr, "ucoauth: finishing first, so that a refreshed token is saved; interrupt again to abort")
		case <-done:
			return
		}
		select {
		case <-ch:
			os.Exit(130)
		case <-done:
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

func runToken(e *env, args []string) error {
	var minValidity *time.Duration
	c, err := parseTokenCommand(e, "token", tokenHelp, args, func(fs *flagSet) {
		minValidity = fs.Duration("min-validity", time.Minute, "refresh first unless the token lasts this long (capped at half its lifetime)")
	})
	if err != nil {
		return err
	}
	defer c.close()
	if *minValidity < 0 {
		return usageErrorf("-min-validity must not be negative")
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	tok, err := c.fetch(ctx, &view{TokenStore: c.store, ahead: *minValidity})
	if err != nil {
		return err
	}
	if life := time.Duration(tok.ExpiresIn) * time.Second; life > 0 && *minValidity > life {
		// No refresh can help: every token lives less than asked.
		return &tooShort{key: c.key, want: *minValidity, life: life, left: time.Until(tok.Expiry).Round(time.Second)}
	}
	_, err = io.WriteString(e.stdout, tok.AccessToken+"\n")
	return err
}

func runRefresh(e *env, args []string) error {
	c, err := parseTokenCommand(e, "refresh", refreshHelp, args, nil)
	if err != nil {
		return err
	}
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	v := &view{TokenStore: c.store, force: true}
	tok, err := c.fetch(ctx, v)
	if err != nil {
		return err
	}
	if v.saves.Load() == 0 {
		return fmt.Errorf("no refresh happened for %q", c.key)
	}
	if c.kept {
		return nil // superseded reported it
	}
	fmt.Fprintf(e.stderr, "Refreshed %s: %s.\n", c.key, describe(tok))
	return nil
}

func runRevoke(e *env, args []string) error {
	c, err := parseTokenCommand(e, "revoke", revokeHelp, args, nil)
	if err != nil {
		return err
	}
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	_, err = c.store.Load(ctx, c.key)
	if errors.Is(err, ucoauth.ErrRevoked) {
		// A tombstone: revoked before, by this command or a program.
		return &hinted{fmt.Sprintf("%q was revoked already: nothing to revoke (connect it again with: ucoauth login -key %q)", c.key, c.key), err}
	}
	if errors.Is(err, ucoauth.ErrTokenNotFound) {
		// A typo in the key must not look like a revoked grant.
		return &hinted{fmt.Sprintf("no token for %q: nothing revoked (check the key: ucoauth status lists them)", c.key), err}
	}
	src := ucoauth.NewTokenSource(c.cfg, c.store, c.key, ucoauth.WithEarlyRefresh(0), ucoauth.WithRefreshTimeout(c.timeout/4))
	if err := src.Revoke(ctx); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Revoked %s at UltraCart and replaced its token with a tombstone.\n", c.key)
	c.removeLockFile(ctx)
	return nil
}

// removeLockFile removes a file store's lock file for the revoked key, once
// nobody holds it (see tokenstore.File.RemoveLock). A failure only warns:
// the file is empty and holds no token.
func (c *tokenCommand) removeLockFile(ctx context.Context) {
	scheme, dir, _ := strings.Cut(c.spec, ":")
	if !strings.EqualFold(scheme, "file") {
		return
	}
	f, err := tokenstore.NewFile(strings.TrimPrefix(dir, "//"))
	if err == nil {
		err = f.RemoveLock(ctx, c.key)
	}
	if err != nil {
		fmt.Fprintf(c.e.stderr, "warning: the lock file of %s stays (it holds no token): %s\n", c.key, oneLine(err.Error()))
	}
}

// fetch returns a valid token for c.key through a TokenSource on v, and
// makes sure a refresh it caused is saved before the process exits.
//
// The library has no "refresh now" call: a TokenSource refreshes when its
// token is stale. v makes the stored token look closer to expiry than it is,
// so the source's own refresh path (store lock, re-read, refresh, keep the
// old refresh token when none comes back, save before use) does the work.
// With no early window the refresh happens in the caller's goroutine, never
// in the background where exiting would cut it off.
func (c *tokenCommand) fetch(ctx context.Context, v *view) (*oauth2.Token, error) {
	events := make(chan ucoauth.RefreshEvent, 1)
	src := ucoauth.NewTokenSource(c.cfg, v, c.key,
		ucoauth.WithEarlyRefresh(0),
		// The refresh outlives a caller that gives up (lock wait and request
		// take up to twice this, the save once more): keep it inside -timeout.
		ucoauth.WithRefreshTimeout(c.timeout/4),
		ucoauth.WithRefreshHook(func(ev ucoauth.RefreshEvent) {
			select {
			case events <- ev:
			default:
			}
		}))
	tok, err := src.TokenContext(ctx)
	if err != nil {
		return nil, c.hint(err)
	}
	if v.saves.Load() == 0 {
		return tok, nil // served as stored
	}
	// A refresh reached UltraCart and tried to save. Its report says whether
	// the save worked; it comes right after the token was handed out.
	select {
	case ev := <-events:
		if errors.Is(ev.Err, ucoauth.ErrSuperseded) {
			return c.superseded(ctx)
		}
		return tok, c.settle(ctx, ev)
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the refresh of %q to report: %w", c.key, ctx.Err())
	}
}

// tooShort is a -min-validity longer than the lifetime UltraCart grants:
// no token can last that long, so none is printed.
type tooShort struct {
	key              string
	want, life, left time.Duration
}

func (e *tooShort) Error() string {
	return fmt.Sprintf("-min-validity %s is longer than the %s UltraCart grants the tokens of %q (this one has %s left): no token lasts that long, none is printed; ask for %s at most",
		e.want, e.life, e.key, e.left, e.life)
}

// hint makes the errors that mean "log in first" say so. They still match
// ErrTokenNotFound and ErrReauthorizationRequired (exit status 3).
func (c *tokenCommand) hint(err error) error {
	switch {
	case errors.Is(err, ucoauth.ErrTokenNotFound):
		return &hinted{fmt.Sprintf("no token for %q: connect it with: ucoauth login -key %q", c.key, c.key), err}
	case errors.Is(err, ucoauth.ErrReauthorizationRequired):
		return &hinted{fmt.Sprintf("%v; connect %q again with: ucoauth login -key %q", err, c.key, c.key), err}
	}
	return err
}

// hinted is an error with a better message than its cause.
type hinted struct {
	msg string
	err error
}

func (h *hinted) Error() string { return h.msg }
func (h *hinted) Unwrap() error { return h.err }

// settle makes sure the token a refresh got from UltraCart is in the store:
// the TokenSource retries a failed save in the background, which would die
// with this process, so retry here in the foreground.
func (c *tokenCommand) settle(ctx context.Context, ev ucoauth.RefreshEvent) error {
	if ev.Err == nil || ev.Token == nil {
		return nil
	}
	if errors.Is(ev.Err, ucoauth.ErrBadExpiresIn) {
		fmt.Fprintf(c.e.stderr, "warning: %s\n", oneLine(ucoauth.ErrBadExpiresIn.Error()+"; the token expires after ucoauth.FallbackLifetime"))
	}
	var se *ucoauth.StoreError
	if !errors.As(ev.Err, &se) {
		return nil
	}
	var err error
	for i := range 5 {
		if err = c.store.Save(ctx, c.key, ev.Token); err == nil || errors.Is(err, ucoauth.ErrSuperseded) {
			return nil
		}
		if i == 4 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("refreshed %q, but the store would not save the new token before the timeout, and UltraCart may have retired the old refresh token (the merchant may have to connect again): %w", c.key, err)
		case <-time.After(time.Duration(100<<i) * time.Millisecond):
		}
	}
	return fmt.Errorf("refreshed %q, but the store would not save the new token, and UltraCart may have retired the old refresh token (the merchant may have to connect again): %w", c.key, err)
}

// superseded is a refresh whose save found a newer token in the store,
// saved meanwhile by another process (a new login, say): that one wins. It
// is kept, reported on stderr, and returned; the token the refresh got is
// dropped. (A stored token that only claims a later expiry, the very one
// the refresh started from, is replaced by the TokenSource itself.)
func (c *tokenCommand) superseded(ctx context.Context) (*oauth2.Token, error) {
	tok, err := c.store.Load(ctx, c.key)
	if err != nil {
		return nil, fmt.Errorf("refreshed %q, but a newer token was saved meanwhile, and reading it failed: %w", c.key, err)
	}
	if err := refuseSealed(tok); err != nil {
		return nil, err
	}
	fmt.Fprintf(c.e.stderr, "A newer token for %s was saved while this refresh ran (a new login?): it is kept (%s); the refreshed one is dropped.\n", c.key, describe(tok))
	c.kept = true
	return tok, nil
}

// view is a store as one command's TokenSource should see it: loads report
// the expiry ahead earlier than stored (capped at half the token's lifetime),
// or already past when force is set or the token has no expiry. Saves and locks go to the store
// unchanged, and are counted.
type view struct {
	ucoauth.TokenStore
	ahead time.Duration
	force bool
	saves atomic.Int32
}

// Load returns the stored token with its expiry brought forward.
func (v *view) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	tok, err := v.TokenStore.Load(ctx, key)
	if err != nil {
		return nil, err
	}
	if err := refuseSealed(tok); err != nil {
		return nil, err
	}
	t := *tok // stores return copies: this one is ours to change
	switch {
	case v.force, t.Expiry.IsZero():
		// A token with no expiry is refreshed at once by a TokenSource, in
		// the background; make it a foreground refresh, which this process
		// lives to save.
		t.Expiry = time.Now().Add(-time.Minute)
	default:
		ahead := v.ahead
		if life := time.Duration(t.ExpiresIn) * time.Second; life > 0 {
			ahead = min(ahead, life/2)
		}
		t.Expiry = t.Expiry.Add(-ahead)
	}
	return &t, nil
}

// Save saves tok in the store, counting the attempt.
func (v *view) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	v.saves.Add(1)
	return v.TokenStore.Save(ctx, key, tok)
}

// Lock takes the store's refresh lock, when it has one.
func (v *view) Lock(ctx context.Context, key string) (func(), error) {
	if l, ok := v.TokenStore.(ucoauth.Locker); ok {
		return l.Lock(ctx, key)
	}
	return func() {}, nil
}

// LockLease takes the store's refresh lock as one the refresh can check
// (ucoauth.LeaseLocker), when the store can; a plain lock is trusted.
func (v *view) LockLease(ctx context.Context, key string) (ucoauth.Lease, error) {
	if l, ok := v.TokenStore.(ucoauth.LeaseLocker); ok {
		return l.LockLease(ctx, key)
	}
	unlock, err := v.Lock(ctx, key)
	if err != nil {
		return nil, err
	}
	return trustedLease(unlock), nil
}

// trustedLease is a lock that cannot be checked.
type trustedLease func()

func (trustedLease) Keep(context.Context) error { return nil }
func (u trustedLease) Release()                 { u() }

// errSealed is a sealed record read without the keys that open it.
var errSealed = errors.New("the record is sealed: set " + envSealKeys + " to the keys it was sealed with")

func refuseSealed(tok *oauth2.Token) error {
	if record.IsSealed(tok) {
		return errSealed
	}
	return nil
}

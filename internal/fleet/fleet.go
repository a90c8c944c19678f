// Package fleet runs fleets of token sources that serve one merchant.
//
// Ucoauth and Bare simulate a fleet in one process: go-ucoauth instances
// sharing a store (Redis, in the examples and the benchmark program), or
// bare x/oauth2. Each instance has its own token source and its own store
// handle, as separate processes would.
//
// Spawn, Child and their helpers run a fleet of OS processes (the test
// binary re-run), for the fleet tests of every module. The package needs
// no store driver, so any module of this repository can use it.
package fleet

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
	"golang.org/x/oauth2"
)

// Params describe a run.
type Params struct {
	Instances int
	// Lifetime of tokens at the fake UltraCart; rotation is on.
	Lifetime time.Duration
	// Duration of the run.
	Duration time.Duration
	// Every is the pause between two Token() calls of one instance.
	Every time.Duration
	// Wrap, if set, wraps each instance's store (with tokenstore.Seal, for
	// one).
	Wrap func(ucoauth.TokenStore) (ucoauth.TokenStore, error)
}

// store returns a new store handle from newStore, wrapped by p.Wrap.
func (p Params) store(newStore func() ucoauth.TokenStore) (ucoauth.TokenStore, error) {
	s := newStore()
	if p.Wrap == nil {
		return s, nil
	}
	return p.Wrap(s)
}

// EarlyRefresh is the early window both libraries get: a quarter lifetime.
func (p Params) EarlyRefresh() time.Duration { return p.Lifetime / 4 }

// Result counts what reached the fake UltraCart and what callers saw.
type Result struct {
	Requests, InvalidGrant, FailedCalls int
}

func newFake(p Params) *ucoauthtest.Server {
	uc := ucoauthtest.NewServer()
	uc.SetLifetime(p.Lifetime)
	uc.SetRotation(true)
	return uc
}

// hammer calls get from every instance, every p.Every, for p.Duration.
func hammer(p Params, get func(i int) error) int {
	var fails atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(p.Duration)
	for i := range p.Instances {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if get(i) != nil {
					fails.Add(1)
				}
				time.Sleep(p.Every)
			}
		})
	}
	wg.Wait()
	return int(fails.Load())
}

// Ucoauth runs the fleet on go-ucoauth, each instance with its own
// TokenSource and store handle from newStore (a Redis store on a new
// client, for one): the first handle seeds the store.
func Ucoauth(p Params, newStore func() ucoauth.TokenStore) (Result, error) {
	uc := newFake(p)
	defer uc.Close()
	key := fmt.Sprintf("fleet-%d", time.Now().UnixNano())
	seed, err := p.store(newStore)
	if err != nil {
		return Result{}, err
	}
	if err := seed.Save(context.Background(), key, uc.Issue("DEMO")); err != nil {
		return Result{}, fmt.Errorf("seeding the store: %w", err)
	}
	sources := make([]*ucoauth.TokenSource, p.Instances)
	// The sources are closed before Ucoauth returns, and before the fake
	// UltraCart: a refresh that a call started in the background may still
	// be under way when the hammer stops. Left running, it would outlive the
	// run and release its lock on a store client that the caller has closed
	// meanwhile ("cannot release a refresh lock ... client is closed").
	defer closeAll(sources)
	for i := range sources {
		store, err := p.store(newStore)
		if err != nil {
			return Result{}, err
		}
		sources[i] = ucoauth.NewTokenSource(uc.Config(), store, key, ucoauth.WithEarlyRefresh(p.EarlyRefresh()))
	}
	failed := hammer(p, func(i int) error { _, err := sources[i].Token(); return err })
	closeAll(sources) // the last refresh is counted too
	st := uc.Stats()
	return Result{Requests: st.Refreshes(), InvalidGrant: st.InvalidGrant, FailedCalls: failed}, nil
}

// closeAll closes every source made so far, waiting for their background
// work to end. Close may be called more than once.
func closeAll(sources []*ucoauth.TokenSource) {
	for _, s := range sources {
		if s != nil {
			_ = s.Close()
		}
	}
}

// Bare runs the fleet on x/oauth2 as people use it today:
// oauth2.ReuseTokenSource over cfg.TokenSource, one per instance, each
// starting from the same stored token.
func Bare(p Params) Result {
	uc := newFake(p)
	defer uc.Close()
	tok := uc.Issue("DEMO")
	cfg := uc.Config()
	sources := make([]oauth2.TokenSource, p.Instances)
	for i := range sources {
		// The early margin scaled to the short lifetime, as for go-ucoauth
		// (x/oauth2's default, 10 s, would exceed it).
		sources[i] = oauth2.ReuseTokenSourceWithExpiry(tok, cfg.TokenSource(context.Background(), tok), p.EarlyRefresh())
	}
	failed := hammer(p, func(i int) error { _, err := sources[i].Token(); return err })
	st := uc.Stats()
	return Result{Requests: st.Refreshes(), InvalidGrant: st.InvalidGrant, FailedCalls: failed}
}

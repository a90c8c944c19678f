// Command redis-fleet runs a fleet of instances that share one merchant's
// token through Redis, and the same fleet on bare x/oauth2, side by side.
//
//	go run ./examples/redis-fleet            # embedded Redis (miniredis)
//	REDIS_URL=redis://127.0.0.1:6379/0 go run ./examples/redis-fleet
//
// Each instance has its own TokenSource and its own Redis connection, as
// separate processes would. UltraCart is the embedded fake, with short
// tokens and refresh-token rotation on, so that three expiry windows pass in
// a few seconds.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
	"golang.org/x/oauth2"
)

func main() {
	instances := flag.Int("instances", 8, "instances in the fleet")
	windows := flag.Int("windows", 3, "token lifetimes to run through")
	lifetime := flag.Duration("lifetime", 2*time.Second, "token lifetime at the fake UltraCart")
	flag.Parse()
	log.SetFlags(0)

	newClient, where, err := redisClients()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d instances, %d expiry windows of %s, refresh-token rotation on, Redis: %s\n\n", *instances, *windows, *lifetime, where)
	d := time.Duration(*windows)*(*lifetime) + *lifetime/4

	var ours, bare result
	var wg sync.WaitGroup
	wg.Go(func() { ours = runUcoauth(newClient, *instances, *lifetime, d) })
	wg.Go(func() { bare = runBare(*instances, *lifetime, d) })
	wg.Wait()
	fmt.Printf("%-12s %16s %14s %14s\n", "", "token requests", "invalid_grant", "failed calls")
	fmt.Printf("%-12s %16d %14d %14d\n", "go-ucoauth", ours.requests, ours.invalid, ours.failed)
	fmt.Printf("%-12s %16d %14d %14d\n", "x/oauth2", bare.requests, bare.invalid, bare.failed)
	period := *lifetime - *lifetime/4
	fmt.Printf("\ngo-ucoauth: %d token requests for the whole fleet of %d in %s: one each time the token\n"+
		"            entered its early-refresh window (every %s), %d invalid_grant.\n", ours.requests, *instances, d, period, ours.invalid)
	fmt.Printf("x/oauth2:   each instance refreshes alone; after the first rotation the others hold dead refresh\n"+
		"            tokens and retry on every call: %d requests, %d of them invalid_grant.\n", bare.requests, bare.invalid)
}

type result struct{ requests, invalid, failed int }

// redisClients returns a factory of clients, one per instance.
func redisClients() (func() redis.UniversalClient, string, error) {
	if u := os.Getenv("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			return nil, "", fmt.Errorf("REDIS_URL: %w", err)
		}
		return func() redis.UniversalClient { return redis.NewClient(opt) }, opt.Addr, nil
	}
	mr, err := miniredis.Run()
	if err != nil {
		return nil, "", err
	}
	return func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: mr.Addr()}) },
		"embedded miniredis (set REDIS_URL for a real one)", nil
}

// hammer calls get from every instance every few milliseconds for d.
func hammer(n int, d time.Duration, get func(i int) error) (failed int) {
	var fails atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for i := range n {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if get(i) != nil {
					fails.Add(1)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	return int(fails.Load())
}

func newFake(lifetime time.Duration) *ucoauthtest.Server {
	uc := ucoauthtest.NewServer()
	uc.SetLifetime(lifetime)
	uc.SetRotation(true)
	return uc
}

func runUcoauth(newClient func() redis.UniversalClient, n int, lifetime, d time.Duration) result {
	uc := newFake(lifetime)
	defer uc.Close()
	ctx := context.Background()
	key := fmt.Sprintf("fleet-demo-%d", time.Now().UnixNano())
	if err := tokenstore.NewRedis(newClient()).Save(ctx, key, uc.Issue("DEMO")); err != nil {
		log.Fatalf("seeding Redis: %v", err)
	}
	sources := make([]*ucoauth.TokenSource, n)
	for i := range sources {
		sources[i] = ucoauth.NewTokenSource(uc.Config(), tokenstore.NewRedis(newClient()), key,
			ucoauth.WithEarlyRefresh(lifetime/4))
	}
	failed := hammer(n, d, func(i int) error { _, err := sources[i].Token(); return err })
	st := uc.Stats()
	return result{requests: st.Refreshes(), invalid: st.InvalidGrant, failed: failed}
}

func runBare(n int, lifetime, d time.Duration) result {
	uc := newFake(lifetime)
	defer uc.Close()
	ctx := context.Background()
	tok := uc.Issue("DEMO")
	cfg := uc.Config()
	sources := make([]oauth2.TokenSource, n)
	for i := range sources {
		// The usual x/oauth2 setup, with the early-expiry margin scaled down
		// to the short demo lifetime (its default, 10 s, exceeds it).
		sources[i] = oauth2.ReuseTokenSourceWithExpiry(tok, cfg.TokenSource(ctx, tok), lifetime/4)
	}
	failed := hammer(n, d, func(i int) error { _, err := sources[i].Token(); return err })
	st := uc.Stats()
	return result{requests: st.Refreshes(), invalid: st.InvalidGrant, failed: failed}
}

// Command redis-fleet runs a fleet of instances that share one merchant's
// token through Redis, and the same fleet on bare x/oauth2, side by side.
//
//	go run ./examples/redis-fleet            # embedded Redis (miniredis)
//	REDIS_URL=redis://127.0.0.1:6379/0 go run ./examples/redis-fleet
//	go run ./examples/redis-fleet -cluster 127.0.0.1:7000,127.0.0.1:7001
//	go run ./examples/redis-fleet -sentinel 127.0.0.1:26379 -master mymaster
//
// Each instance has its own TokenSource and its own Redis connection, as
// separate processes would. UltraCart is the embedded fake, with short
// tokens and refresh-token rotation on, so that several refreshes happen in
// a few seconds. UCOAUTH_SEAL_KEYS, when set, seals go-ucoauth's records
// (see tokenstore.ParseSealKeys).
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/internal/fleet"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

func main() {
	instances := flag.Int("instances", 8, "instances in the fleet")
	windows := flag.Int("windows", 3, "token lifetimes to run through")
	lifetime := flag.Duration("lifetime", 2*time.Second, "token lifetime at the fake UltraCart")
	cluster := flag.String("cluster", "", "comma-separated Redis Cluster node addresses (or a redis:// cluster URL)")
	sentinel := flag.String("sentinel", "", "comma-separated Sentinel addresses (with -master)")
	master := flag.String("master", "mymaster", "the Sentinel's master name")
	flag.Parse()
	log.SetFlags(0)

	newClient, where, opts, err := redisClients(*cluster, *sentinel, *master)
	if err != nil {
		log.Fatal(err)
	}
	p := fleet.Params{Instances: *instances, Lifetime: *lifetime, Every: 20 * time.Millisecond,
		Duration: time.Duration(*windows)*(*lifetime) + *lifetime/4}
	if p.Wrap, err = sealFromEnv(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d instances for %s, tokens living %s, refresh-token rotation on, Redis: %s\n\n", p.Instances, p.Duration, p.Lifetime, where)

	ours, bare, err := run(p, stores(newClient, opts))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%-12s %16s %14s %14s\n", "", "token requests", "invalid_grant", "failed calls")
	fmt.Printf("%-12s %16d %14d %14d\n", "go-ucoauth", ours.Requests, ours.InvalidGrant, ours.FailedCalls)
	fmt.Printf("%-12s %16d %14d %14d\n", "x/oauth2", bare.Requests, bare.InvalidGrant, bare.FailedCalls)
	fmt.Printf("\ngo-ucoauth: %d token requests for the whole fleet: one each time the token entered its\n"+
		"            early-refresh window (every %s), %d invalid_grant.\n", ours.Requests, p.Lifetime-p.EarlyRefresh(), ours.InvalidGrant)
	fmt.Printf("x/oauth2:   each instance refreshes alone; after the first rotation the others hold dead refresh\n"+
		"            tokens and retry on every call: %d requests, %d of them invalid_grant.\n", bare.Requests, bare.InvalidGrant)
}

// run runs both fleets at once.
func run(p fleet.Params, newStore func() ucoauth.TokenStore) (ours, bare fleet.Result, err error) {
	var wg sync.WaitGroup
	wg.Go(func() { ours, err = fleet.Ucoauth(p, newStore) })
	wg.Go(func() { bare = fleet.Bare(p) })
	wg.Wait()
	return ours, bare, err
}

// redisClients returns a factory of clients, one per instance: for a
// Cluster, through a Sentinel, at REDIS_URL, or on an embedded miniredis,
// and the options its stores need.
func redisClients(cluster, sentinel, master string) (func() redis.UniversalClient, string, []redisstore.Option, error) {
	switch {
	case cluster != "":
		opt, err := clusterOptions(cluster)
		if err != nil {
			return nil, "", nil, err
		}
		return func() redis.UniversalClient { return redis.NewClusterClient(opt) }, "Cluster " + strings.Join(opt.Addrs, ","), nil, nil
	case sentinel != "":
		if master == "" {
			return nil, "", nil, errors.New("-sentinel needs -master")
		}
		opt := &redis.FailoverOptions{MasterName: master, SentinelAddrs: strings.Split(sentinel, ",")}
		return func() redis.UniversalClient { return redis.NewFailoverClient(opt) }, "Sentinel " + sentinel + " master " + master, nil, nil
	}
	if u := os.Getenv("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			// Its error may quote the URL, password and all.
			return nil, "", nil, errors.New("REDIS_URL does not parse (not shown: it may hold a password)")
		}
		return func() redis.UniversalClient { return redis.NewClient(opt) }, opt.Addr, nil, nil
	}
	mr, err := miniredis.Run()
	if err != nil {
		return nil, "", nil, err
	}
	// One in-process node with no replicas: nothing to wait for, and no
	// INFO replication to learn that from.
	return func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: mr.Addr()}) },
		"embedded miniredis (set REDIS_URL for a real one)", []redisstore.Option{redisstore.WithReplicaAcks(0, 0)}, nil
}

// clusterOptions reads -cluster: a redis:// URL (redis.ParseClusterURL) or a
// list of host:port.
func clusterOptions(s string) (*redis.ClusterOptions, error) {
	if strings.Contains(s, "://") {
		opt, err := redis.ParseClusterURL(s)
		if err != nil {
			// Its error may quote the URL, password and all.
			return nil, errors.New("-cluster does not parse as a redis:// URL (not shown: it may hold a password)")
		}
		return opt, nil
	}
	return &redis.ClusterOptions{Addrs: strings.Split(s, ",")}, nil
}

// sealFromEnv returns a wrapper that seals each instance's store with the
// keys in UCOAUTH_SEAL_KEYS ("k2:BASE64,k1:BASE64", primary first), or nil
// when it is not set.
func sealFromEnv() (func(ucoauth.TokenStore) (ucoauth.TokenStore, error), error) {
	keys := os.Getenv("UCOAUTH_SEAL_KEYS")
	if keys == "" {
		return nil, nil
	}
	k, err := tokenstore.ParseSealKeys(keys)
	if err != nil {
		return nil, fmt.Errorf("UCOAUTH_SEAL_KEYS: %w", err)
	}
	return func(s ucoauth.TokenStore) (ucoauth.TokenStore, error) { return tokenstore.Seal(s, k[0], k[1:]...) }, nil
}

// stores makes each fleet instance's store: a Redis store on a client of
// its own, as separate processes would have.
func stores(newClient func() redis.UniversalClient, opts []redisstore.Option) func() ucoauth.TokenStore {
	return func() ucoauth.TokenStore { return redisstore.New(newClient(), opts...) }
}

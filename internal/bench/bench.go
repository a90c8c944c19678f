// Package bench holds the performance scenarios of BENCHMARKS.md. Each one
// runs go-ucoauth and x/oauth2 (oauth2.ReuseTokenSource over
// cfg.TokenSource, as people use it today) in the same process, against the
// fake UltraCart over real loopback sockets. cmd/ucoauth-bench prints them
// as a table; the Go benchmarks run the per-operation ones.
package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
	"golang.org/x/oauth2"
)

// Row is one line of the results table.
type Row struct {
	Scenario     string
	Ours, Theirs string
	Ratio        string
	Target       string
	Met          string // "yes", "no", or "" when there is no target
}

// Lib names a library under test.
type Lib string

// The libraries compared.
const (
	Ours   Lib = "ucoauth"
	Theirs Lib = "xoauth2"
)

// Libs lists both, ours first.
var Libs = []Lib{Ours, Theirs}

func ratio(ours, theirs float64) string {
	if theirs == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.3g", ours/theirs)
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

var ctx = context.Background()

// source returns a token source of lib holding tok, refreshing at srv.
func source(lib Lib, srv *ucoauthtest.Server, tok *oauth2.Token, early time.Duration, opts ...ucoauth.Option) oauth2.TokenSource {
	cfg := srv.Config()
	if lib == Theirs {
		return oauth2.ReuseTokenSourceWithExpiry(tok, cfg.TokenSource(ctx, tok), early)
	}
	store := tokenstore.NewMemory()
	if err := store.Save(ctx, "m", tok); err != nil {
		panic(err)
	}
	return ucoauth.NewTokenSource(cfg, store, "m", append([]ucoauth.Option{ucoauth.WithEarlyRefresh(early)}, opts...)...)
}

// ---- the whole suite ----------------------------------------------------------

// Options sizes a run of the suite.
type Options struct {
	Callers   int // goroutines in scenarios 2, 3 and 5 (1,000)
	Merchants int // scenario 6 (100,000)
	FileKeys  int // cold start from the file store (2,000: each save fsyncs)
	RedisKeys int // cold start from Redis (20,000)
	Instances int // scenario 4 (8)
	Windows   int // scenario 4 (3)
	Seconds   int // scenario 5 (60)
	Redis     redis.UniversalClient
	NewRedis  func() redis.UniversalClient // a client per fleet instance
	// RedisOptions are given to every Redis store (on miniredis, which
	// has no INFO replication: redisstore.WithReplicaAcks(0, 0)).
	RedisOptions []redisstore.Option
	Dir          string // for the file store
	Log          func(format string, args ...any)
	// Only runs the one scenario of this name (see Scenarios); empty runs all.
	Only string
}

// Scenarios names Run's scenarios, in the order it runs them.
var Scenarios = []string{"hot-path", "never-wait", "stampede", "fleet", "outage", "many-merchants", "store-costs"}

// Run runs every scenario, or the one o.Only names, and returns the rows.
func Run(o Options) ([]Row, error) {
	if o.Only != "" && !slices.Contains(Scenarios, o.Only) {
		return nil, fmt.Errorf("bench: no scenario %q; the scenarios are %s", o.Only, strings.Join(Scenarios, ", "))
	}
	runs := func(name string) bool { return o.Only == "" || o.Only == name }
	var rows []Row
	if runs("hot-path") {
		o.Log("1. hot path")
		rows = append(rows, hotPathRows()...)
	}
	if runs("never-wait") {
		o.Log("2. callers never wait")
		rows = append(rows, neverWaitRow(o.Callers))
	}
	if runs("stampede") {
		o.Log("3. stampede")
		rows = append(rows, stampedeRow(o.Callers))
	}
	if runs("fleet") {
		o.Log("4. fleet")
		r, err := fleetRow(o.NewRedis, o.RedisOptions, o.Instances, o.Windows)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	if runs("outage") {
		o.Log("5. outage")
		rows = append(rows, outageRow(o.Callers, o.Seconds))
	}
	if runs("many-merchants") {
		o.Log("6. many merchants")
		mm, err := manyMerchantsRows(o.Redis, o.RedisOptions, o.Dir+"/many", o.Merchants, o.FileKeys, o.RedisKeys)
		if err != nil {
			return nil, err
		}
		rows = append(rows, mm...)
	}
	if runs("store-costs") {
		o.Log("7. store costs")
		key := tokenstore.SealKey{ID: "bench", Secret: []byte(secret()[:tokenstore.SealKeySize])}
		seal, err := sealRow(key)
		if err != nil {
			return nil, err
		}
		stores, cleanup, err := costStores(o, key)
		defer cleanup()
		if err != nil {
			return nil, err
		}
		rows = append(rows, seal)
		rows = append(rows, storeRows(stores)...)
	}
	return rows, nil
}

// Markdown renders rows as a table.
func Markdown(rows []Row) string {
	out := "| scenario | go-ucoauth | x/oauth2 | ratio | target | met |\n|---|---|---|---|---|---|\n"
	for _, r := range rows {
		out += fmt.Sprintf("| %s | %s | %s | %s | %s | %s |\n", r.Scenario, r.Ours, r.Theirs, r.Ratio, r.Target, r.Met)
	}
	return out
}

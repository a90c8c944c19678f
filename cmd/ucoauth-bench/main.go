// Command ucoauth-bench measures go-ucoauth against x/oauth2
// (oauth2.ReuseTokenSource over cfg.TokenSource) in one process, in one
// run, and prints a markdown table: the scenarios of BENCHMARKS.md.
//
//	go run ./cmd/ucoauth-bench                      # every scenario
//	go run ./cmd/ucoauth-bench -scenario stampede   # one; -h lists them
//
// The token endpoint is the fake UltraCart of ucoauthtest over loopback.
// Redis is REDIS_URL if set, else a redis-server started on a free port if
// one is on PATH, else an in-process miniredis (the table says which).
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/internal/bench"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
)

func main() {
	// testing.Benchmark needs the testing flags' defaults, but they must not
	// show in -h or be accepted: register them on a throwaway set.
	cl := flag.CommandLine
	flag.CommandLine = flag.NewFlagSet("testing", flag.ContinueOnError)
	testing.Init()
	flag.CommandLine = cl

	fs := flag.NewFlagSet("ucoauth-bench", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: ucoauth-bench [flags]

Measures go-ucoauth beside x/oauth2 (oauth2.ReuseTokenSource) in one run and
prints a markdown table: the scenarios of BENCHMARKS.md. Redis is REDIS_URL
if set, else a redis-server on a free port if one is on PATH, else an
in-process miniredis (the output says which).

Scenarios (-scenario): %s

Flags:
`, strings.Join(bench.Scenarios, ", "))
		fs.PrintDefaults()
	}
	o := bench.Options{}
	fs.StringVar(&o.Only, "scenario", "", "run only this scenario (default: all)")
	fs.IntVar(&o.Callers, "callers", 1000, "goroutines in the latency, stampede and outage scenarios")
	fs.IntVar(&o.Merchants, "merchants", 100000, "merchants in the memory-footprint scenario")
	fs.IntVar(&o.FileKeys, "file-keys", 2000, "keys for the file-store cold start")
	fs.IntVar(&o.RedisKeys, "redis-keys", 20000, "keys for the Redis cold start")
	fs.IntVar(&o.Instances, "instances", 8, "instances in the fleet scenario")
	fs.IntVar(&o.Windows, "windows", 3, "refresh windows in the fleet scenario")
	fs.IntVar(&o.Seconds, "seconds", 60, "simulated seconds of outage")
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "ucoauth-bench: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		os.Exit(2)
	}
	if o.Only != "" && !slices.Contains(bench.Scenarios, o.Only) {
		fmt.Fprintf(os.Stderr, "ucoauth-bench: no scenario %q; the scenarios are %s\n", o.Only, strings.Join(bench.Scenarios, ", "))
		os.Exit(2)
	}
	log.SetFlags(0)
	o.Log = func(format string, args ...any) { log.Printf("ucoauth-bench: "+format, args...) }

	where, newClient, opts, cleanup, err := redisFor()
	if err != nil {
		log.Fatal(err)
	}
	defer cleanup()
	o.Redis, o.NewRedis, o.RedisOptions = newClient(), newClient, opts
	dir, err := os.MkdirTemp("", "ucoauth-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	o.Dir = dir

	start := time.Now()
	rows, err := bench.Run(o)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Machine: %d cores, %s, %s/%s. Redis: %s. Ran in %s.\n\n", runtime.NumCPU(), runtime.Version(),
		runtime.GOOS, runtime.GOARCH, where, time.Since(start).Round(time.Second))
	fmt.Print(bench.Markdown(rows))
}

// redisFor returns where Redis is, a factory of clients for it, the options
// its stores need, and how to stop it.
func redisFor() (string, func() redis.UniversalClient, []redisstore.Option, func(), error) {
	if u := os.Getenv("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			return "", nil, nil, nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		return "REDIS_URL " + opt.Addr, func() redis.UniversalClient { return redis.NewClient(opt) }, nil, func() {}, nil
	}
	s, err := redistest.New()
	if err != nil {
		return "", nil, nil, nil, err
	}
	var opts []redisstore.Option
	if !s.Real {
		// miniredis: one node, no replicas, and no INFO replication to say so.
		opts = []redisstore.Option{redisstore.WithReplicaAcks(0, 0)}
	}
	return s.String(), func() redis.UniversalClient { return s.Client() }, opts, s.Close, nil
}

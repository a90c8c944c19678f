// Command ucoauth-bench measures go-ucoauth against x/oauth2
// (oauth2.ReuseTokenSource over cfg.TokenSource) in one process, in one
// run, and prints a markdown table: the scenarios of BENCHMARKS.md.
//
//	go run ./cmd/ucoauth-bench
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
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/internal/bench"
	"github.com/ucoauth/go-ucoauth/internal/redistest"
)

func main() {
	testing.Init() // testing.Benchmark reads the testing flags
	o := bench.Options{}
	flag.IntVar(&o.Callers, "callers", 1000, "goroutines in the latency, stampede and outage scenarios")
	flag.IntVar(&o.Merchants, "merchants", 100000, "merchants in the memory-footprint scenario")
	flag.IntVar(&o.FileKeys, "file-keys", 2000, "keys for the file-store cold start")
	flag.IntVar(&o.RedisKeys, "redis-keys", 20000, "keys for the Redis cold start")
	flag.IntVar(&o.Instances, "instances", 8, "instances in the fleet scenario")
	flag.IntVar(&o.Windows, "windows", 3, "refresh windows in the fleet scenario")
	flag.IntVar(&o.Seconds, "seconds", 60, "simulated seconds of outage")
	flag.Parse()
	log.SetFlags(0)
	o.Log = func(format string, args ...any) { log.Printf("ucoauth-bench: "+format, args...) }

	where, newClient, cleanup, err := redisFor()
	if err != nil {
		log.Fatal(err)
	}
	defer cleanup()
	o.Redis, o.NewRedis = newClient(), newClient
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

func redisFor() (string, func() redis.UniversalClient, func(), error) {
	if u := os.Getenv("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			return "", nil, nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		return "REDIS_URL " + opt.Addr, func() redis.UniversalClient { return redis.NewClient(opt) }, func() {}, nil
	}
	s, err := redistest.New()
	if err != nil {
		return "", nil, nil, err
	}
	return s.String(), func() redis.UniversalClient { return s.Client() }, s.Close, nil
}

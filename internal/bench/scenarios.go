package bench

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/internal/fleet"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// ---- 1. Hot path ----------------------------------------------------------

// HotPath benchmarks Token() on a fresh token; parallel uses RunParallel.
func HotPath(b *testing.B, lib Lib, parallel bool) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	src := source(lib, srv, srv.Issue("DEMO", ucoauth.ScopeOrderRead), 10*time.Second)
	if _, err := src.Token(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := src.Token(); err != nil {
					b.Error(err)
					return
				}
			}
		})
		return
	}
	for range b.N {
		if _, err := src.Token(); err != nil {
			b.Fatal(err)
		}
	}
}

func hotPathRows() []Row {
	var rows []Row
	for _, par := range []bool{false, true} {
		res := map[Lib]testing.BenchmarkResult{}
		for _, lib := range Libs {
			res[lib] = testing.Benchmark(func(b *testing.B) { HotPath(b, lib, par) })
		}
		o, t := res[Ours], res[Theirs]
		on, tn := nsPerOp(o), nsPerOp(t)
		name := "1. hot path: Token() on a fresh token, one goroutine"
		if par {
			name = fmt.Sprintf("1. hot path: Token() on a fresh token, RunParallel (%d procs)", runtime.GOMAXPROCS(0))
		}
		rows = append(rows, Row{
			Scenario: name,
			Ours:     fmt.Sprintf("%.2f ns/op, %d allocs/op", on, o.AllocsPerOp()),
			Theirs:   fmt.Sprintf("%.2f ns/op, %d allocs/op", tn, t.AllocsPerOp()),
			Ratio:    ratio(on, tn),
			Target:   "≤ 0.5, 0 allocs",
			Met:      met(on <= tn/2 && o.AllocsPerOp() == 0),
		})
	}
	return rows
}

// ---- 2. Callers never wait --------------------------------------------------

// Latencies are Token() latencies while the token passed through its early
// refresh window, with 200 ms of latency at the token endpoint.
type Latencies struct {
	P50, P99, Max time.Duration
	Calls         int
	Requests      int
}

// String renders the latencies for the table.
func (l Latencies) String() string {
	return fmt.Sprintf("p50 %s, p99 %s, max %s (%d calls, %d token requests)", l.P50, l.P99, l.Max, l.Calls, l.Requests)
}

// NeverWait has callers goroutines call Token() every 5 ms while a 3-second
// token enters its 1-second early window and is refreshed.
func NeverWait(lib Lib, callers int) Latencies {
	const lifetime, early = 3 * time.Second, time.Second
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetLifetime(lifetime)
	srv.SetLatency(200 * time.Millisecond)
	tok := srv.Issue("DEMO")
	src := source(lib, srv, tok, early)
	if _, err := src.Token(); err != nil {
		panic(err)
	}
	stop := tok.Expiry.Add(-early).Add(600 * time.Millisecond) // past the refresh
	samples := make([][]time.Duration, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			s := make([]time.Duration, 0, 1024)
			for time.Now().Before(stop) {
				t0 := time.Now()
				if _, err := src.Token(); err != nil {
					panic(err)
				}
				s = append(s, time.Since(t0))
				time.Sleep(5 * time.Millisecond)
			}
			samples[i] = s
		})
	}
	wg.Wait()
	all := slices.Concat(samples...)
	slices.Sort(all)
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	return Latencies{P50: pct(0.50), P99: pct(0.99), Max: all[len(all)-1], Calls: len(all), Requests: srv.Stats().Refreshes()}
}

func neverWaitRow(callers int) Row {
	o, t := NeverWait(Ours, callers), NeverWait(Theirs, callers)
	return Row{
		Scenario: fmt.Sprintf("2. callers never wait: Token() latency of %d goroutines through the early window, 200 ms token endpoint", callers),
		Ours:     o.String(), Theirs: t.String(),
		Ratio:  ratio(float64(o.Max), float64(t.Max)) + " (max)",
		Target: "max < 1 ms", Met: met(o.Max < time.Millisecond && o.Requests == 1),
	}
}

// ---- 3. Stampede at hard expiry ----------------------------------------------

// Stampede has callers goroutines ask at once for an expired token and
// returns the token requests that reached UltraCart.
func Stampede(lib Lib, callers int) int {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetLatency(50 * time.Millisecond)
	tok := srv.Issue("DEMO")
	tok.Expiry = time.Now().Add(-time.Second)
	src := source(lib, srv, tok, 10*time.Second)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			<-start
			if _, err := src.Token(); err != nil {
				panic(err)
			}
		})
	}
	close(start)
	wg.Wait()
	return srv.Stats().Refreshes()
}

func stampedeRow(callers int) Row {
	o, t := Stampede(Ours, callers), Stampede(Theirs, callers)
	return Row{
		Scenario: fmt.Sprintf("3. stampede: %d goroutines at once on an expired token", callers),
		Ours:     fmt.Sprintf("%d token request(s)", o), Theirs: fmt.Sprintf("%d token request(s)", t),
		Ratio: ratio(float64(o), float64(t)), Target: "exactly 1", Met: met(o == 1),
	}
}

// ---- 4. Fleet ----------------------------------------------------------------

func fleetRow(newClient func() redis.UniversalClient, opts []redisstore.Option, instances, windows int) (Row, error) {
	const lifetime = 2 * time.Second
	p := fleet.Params{Instances: instances, Lifetime: lifetime, Every: 20 * time.Millisecond}
	period := lifetime - p.EarlyRefresh() // a refresh window
	p.Duration = time.Duration(windows)*period + period/2
	var o, t fleet.Result
	var err error
	var wg sync.WaitGroup
	wg.Go(func() {
		o, err = fleet.Ucoauth(p, func() ucoauth.TokenStore { return redisstore.New(newClient(), opts...) })
	})
	wg.Go(func() { t = fleet.Bare(p) })
	wg.Wait()
	if err != nil {
		return Row{}, err
	}
	return Row{
		Scenario: fmt.Sprintf("4. fleet: %d instances share one merchant through Redis for %d refresh windows, rotation on, a call every 20 ms each", instances, windows),
		Ours:     fmt.Sprintf("%d token requests, %d invalid_grant", o.Requests, o.InvalidGrant),
		Theirs:   fmt.Sprintf("%d token requests, %d invalid_grant", t.Requests, t.InvalidGrant),
		Ratio:    ratio(float64(o.Requests), float64(t.Requests)),
		Target:   fmt.Sprintf("%d requests", windows), Met: met(o.Requests == windows && o.InvalidGrant == 0),
	}, nil
}

// ---- 5. Outage ---------------------------------------------------------------

// OutageUcoauth runs callers goroutines through 60 simulated seconds, one
// call each per simulated second, while the token endpoint answers 500, and
// returns the requests that reached it. The clock is injected; nothing
// sleeps for a minute.
func OutageUcoauth(callers int, seconds int) int {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.FailNext(-1, ucoauthtest.Failure{Status: 500, Body: "<html>Internal Server Error</html>"})
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	tok := srv.Issue("DEMO")
	tok.Expiry = now().Add(-time.Second)
	src := source(Ours, srv, tok, 10*time.Second, ucoauth.WithClock(now))
	for range seconds {
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() { _, _ = src.Token() })
		}
		wg.Wait()
		skew.Add(int64(time.Second))
	}
	return srv.Stats().Refreshes()
}

// OutageBare makes the same number of Token() calls on x/oauth2, which has
// no clock to inject and no backoff: time does not change what it does.
func OutageBare(callers int, seconds int) int {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.FailNext(-1, ucoauthtest.Failure{Status: 500, Body: "<html>Internal Server Error</html>"})
	tok := srv.Issue("DEMO")
	tok.Expiry = time.Now().Add(-time.Second)
	src := source(Theirs, srv, tok, 10*time.Second)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range seconds {
				_, _ = src.Token()
			}
		})
	}
	wg.Wait()
	return srv.Stats().Refreshes()
}

func outageRow(callers, seconds int) Row {
	o, t := OutageUcoauth(callers, seconds), OutageBare(callers, seconds)
	return Row{
		Scenario: fmt.Sprintf("5. outage: token endpoint answers 500 for %d simulated seconds; %d goroutines call once a second (%d calls)", seconds, callers, callers*seconds),
		Ours:     fmt.Sprintf("%d requests reach UltraCart", o), Theirs: fmt.Sprintf("%d requests reach UltraCart", t),
		Ratio: ratio(float64(o), float64(t)), Target: "≤ 10", Met: met(o <= 10),
	}
}

// Package bench holds the performance scenarios of BENCHMARKS.md. Each one
// runs go-ucoauth and x/oauth2 (oauth2.ReuseTokenSource over
// cfg.TokenSource, as people use it today) in the same process, against the
// fake UltraCart over real loopback sockets. cmd/ucoauth-bench prints them
// as a table; the Go benchmarks run the per-operation ones.
package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/internal/fleet"
	"github.com/ucoauth/go-ucoauth/internal/testservers/sqltest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
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

// ---- 6. Many merchants ---------------------------------------------------------

// Merchants returns n merchant keys with realistic tokens saved in stores.
func Merchants(n int, stores ...ucoauth.TokenStore) ([]string, error) {
	keys := make([]string, n)
	exp := time.Now().Add(time.Hour)
	for i := range keys {
		keys[i] = fmt.Sprintf("merchant-%06d", i)
		tok := (&oauth2.Token{AccessToken: secret(), RefreshToken: secret(), TokenType: "bearer", Expiry: exp, ExpiresIn: 3600}).
			WithExtra(map[string]any{"scope": "order_read item_read customer_read"})
		for _, s := range stores {
			if err := s.Save(ctx, keys[i], tok); err != nil {
				return nil, err
			}
		}
	}
	return keys, nil
}

func secret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Footprint is the cost of serving many merchants from one process.
type Footprint struct {
	BytesPerMerchant float64
	ColdStart        time.Duration // per key: the first Token() after start
}

// handles returns a per-merchant handle: ours through a Manager (one
// TokenSource per key), theirs the map of ReuseTokenSources people keep.
func handles(lib Lib, cfg *oauth2.Config, store ucoauth.TokenStore) func(key string) (oauth2.TokenSource, error) {
	if lib == Ours {
		m := ucoauth.NewManager(cfg, store)
		return func(key string) (oauth2.TokenSource, error) { return m.Source(key), nil }
	}
	var mu sync.Mutex
	srcs := map[string]oauth2.TokenSource{}
	return func(key string) (oauth2.TokenSource, error) {
		mu.Lock()
		defer mu.Unlock()
		if s, ok := srcs[key]; ok {
			return s, nil
		}
		tok, err := store.Load(ctx, key)
		if err != nil {
			return nil, err
		}
		s := oauth2.ReuseTokenSource(tok, cfg.TokenSource(ctx, tok))
		srcs[key] = s
		return s, nil
	}
}

// Footprints loads every key once through lib's handle and measures the
// time per key and the heap that stays per merchant.
func Footprints(lib Lib, cfg *oauth2.Config, store ucoauth.TokenStore, keys []string) (Footprint, error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	get := handles(lib, cfg, store)
	start := time.Now()
	for _, k := range keys {
		src, err := get(k)
		if err != nil {
			return Footprint{}, err
		}
		if _, err := src.Token(); err != nil {
			return Footprint{}, err
		}
	}
	took := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(get)
	return Footprint{
		BytesPerMerchant: float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(len(keys)),
		ColdStart:        took / time.Duration(len(keys)),
	}, nil
}

func manyMerchantsRows(rs redis.UniversalClient, opts []redisstore.Option, dir string, n, nFile, nRedis int) ([]Row, error) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	cfg := srv.Config()
	mem := tokenstore.NewMemory()
	keys, err := Merchants(n, mem)
	if err != nil {
		return nil, err
	}
	fp := map[Lib]Footprint{}
	for _, lib := range Libs {
		if fp[lib], err = Footprints(lib, cfg, mem, keys); err != nil {
			return nil, err
		}
	}
	rows := []Row{{
		Scenario: fmt.Sprintf("6. many merchants: heap per idle merchant, %d merchants (Manager vs map of ReuseTokenSource)", n),
		Ours:     fmt.Sprintf("%.0f B", fp[Ours].BytesPerMerchant), Theirs: fmt.Sprintf("%.0f B", fp[Theirs].BytesPerMerchant),
		Ratio:  ratio(fp[Ours].BytesPerMerchant, fp[Theirs].BytesPerMerchant),
		Target: "≤ 1 KiB and ≤ x/oauth2", Met: met(fp[Ours].BytesPerMerchant <= 1024 && fp[Ours].BytesPerMerchant <= fp[Theirs].BytesPerMerchant),
	}, coldRow("memory", n, fp)}

	file, err := tokenstore.NewFile(dir)
	if err != nil {
		return nil, err
	}
	redisStore := redisstore.New(rs, append(opts, redisstore.WithKeyPrefix(fmt.Sprintf("bench%d:", time.Now().UnixNano())))...)
	for _, st := range []struct {
		name  string
		store ucoauth.TokenStore
		n     int
	}{{"file", file, nFile}, {"Redis", redisStore, nRedis}} {
		keys, err := Merchants(st.n, st.store)
		if err != nil {
			return nil, err
		}
		fp := map[Lib]Footprint{}
		for _, lib := range Libs {
			if fp[lib], err = Footprints(lib, cfg, st.store, keys); err != nil {
				return nil, err
			}
		}
		rows = append(rows, coldRow(st.name, st.n, fp))
	}
	return rows, nil
}

func coldRow(store string, n int, fp map[Lib]Footprint) Row {
	return Row{
		Scenario: fmt.Sprintf("6. many merchants: cold start, first Token() per key from the %s store (%d keys)", store, n),
		Ours:     fp[Ours].ColdStart.String() + " per key", Theirs: fp[Theirs].ColdStart.String() + " per key",
		Ratio: ratio(float64(fp[Ours].ColdStart), float64(fp[Theirs].ColdStart)),
	}
}

// ---- 7. Store costs ----------------------------------------------------------

// StoreLoad benchmarks Load of one key.
func StoreLoad(b *testing.B, s ucoauth.TokenStore) {
	keys, err := Merchants(1, s)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := s.Load(ctx, keys[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// StoreSave benchmarks Save of ever newer tokens to one key.
func StoreSave(b *testing.B, s ucoauth.TokenStore) {
	tok := &oauth2.Token{AccessToken: secret(), RefreshToken: secret(), TokenType: "bearer", ExpiresIn: 3600}
	tok = tok.WithExtra(map[string]any{"scope": "order_read"})
	base := time.Now().Add(time.Hour)
	key := "save-" + secret()[:8]
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		tok.Expiry = base.Add(time.Duration(i) * time.Millisecond)
		if err := s.Save(ctx, key, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// namedStore is a store and the name its row carries.
type namedStore struct {
	name string
	s    ucoauth.TokenStore
}

func storeRows(stores []namedStore) []Row {
	var rows []Row
	for _, ns := range stores {
		s := ns.s
		l := testing.Benchmark(func(b *testing.B) { StoreLoad(b, s) })
		w := testing.Benchmark(func(b *testing.B) { StoreSave(b, s) })
		rows = append(rows, Row{
			Scenario: fmt.Sprintf("7. store costs: %s Load / Save", ns.name),
			Ours:     fmt.Sprintf("Load %s, %d allocs; Save %s, %d allocs", dur(l), l.AllocsPerOp(), dur(w), w.AllocsPerOp()),
			Theirs:   "no store", Ratio: "n/a",
		})
	}
	return rows
}

// nullStore keeps the last token it was given and does no I/O or
// encoding, so that Seal over it costs what sealing and opening cost.
type nullStore struct{ tok *oauth2.Token }

func (n *nullStore) Load(context.Context, string) (*oauth2.Token, error) {
	if n.tok == nil {
		return nil, ucoauth.ErrTokenNotFound
	}
	return n.tok, nil
}

func (n *nullStore) Save(_ context.Context, _ string, tok *oauth2.Token) error {
	n.tok = tok
	return nil
}

func (n *nullStore) Delete(context.Context, string) error { n.tok = nil; return nil }

// sealRow measures sealing (Save) and opening (Load) one token, access and
// refresh, with AES-256-GCM over a store that does nothing else.
func sealRow(key tokenstore.SealKey) (Row, error) {
	null := &nullStore{}
	s, err := tokenstore.Seal(null, key)
	if err != nil {
		return Row{}, err
	}
	tok := &oauth2.Token{AccessToken: secret(), RefreshToken: secret(), TokenType: "bearer", Expiry: time.Now().Add(time.Hour)}
	sealing := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			null.tok = nil
			if err := s.Save(ctx, "merchant-1", tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	opening := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Load(ctx, "merchant-1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	return Row{
		Scenario: "7. store costs: Seal alone, one token (access and refresh), AES-256-GCM: seal / open",
		Ours:     fmt.Sprintf("seal %s, %d allocs; open %s, %d allocs", dur(sealing), sealing.AllocsPerOp(), dur(opening), opening.AllocsPerOp()),
		Theirs:   "no store", Ratio: "n/a",
	}, nil
}

// costStores opens every store scenario 7 measures: each plain and sealed,
// and the SQL store on SQLite, and on PostgreSQL and MariaDB when their
// binaries are installed (started for the run, stopped by the cleanup).
func costStores(o Options, key tokenstore.SealKey) (stores []namedStore, cleanup func(), err error) {
	var closers []func()
	cleanup = func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	file, err := tokenstore.NewFile(o.Dir + "/costs")
	if err != nil {
		return nil, cleanup, err
	}
	sealedFile, err := tokenstore.NewFile(o.Dir + "/costs-sealed")
	if err != nil {
		return nil, cleanup, err
	}
	plain := []namedStore{
		{"memory", tokenstore.NewMemory()},
		{"file", file},
		{"Redis", redisstore.New(o.Redis, append(o.RedisOptions, redisstore.WithKeyPrefix("benchcost:"))...)},
	}
	inner := []ucoauth.TokenStore{tokenstore.NewMemory(), sealedFile, redisstore.New(o.Redis, append(o.RedisOptions, redisstore.WithKeyPrefix("benchcost-sealed:"))...)}
	stores = append(stores, plain...)
	for i, in := range inner {
		s, err := tokenstore.Seal(in, key)
		if err != nil {
			return nil, cleanup, err
		}
		stores = append(stores, namedStore{"sealed " + plain[i].name, s})
	}

	addSQL := func(name string, db *sql.DB, d sqlstore.Dialect) error {
		closers = append(closers, func() { db.Close() })
		s, err := sqlstore.New(ctx, db, d)
		if err != nil {
			return err
		}
		stores = append(stores, namedStore{name, s})
		return nil
	}
	db, err := sqltest.OpenSQLite(o.Dir + "/costs.db")
	if err != nil {
		return nil, cleanup, err
	}
	if err := addSQL("SQL on SQLite (file, WAL)", db, sqlstore.SQLite); err != nil {
		return nil, cleanup, err
	}
	for _, srv := range []struct {
		name  string
		start func() (*sqltest.Server, error)
		d     sqlstore.Dialect
	}{{"SQL on PostgreSQL", sqltest.StartPostgres, sqlstore.Postgres}, {"SQL on MariaDB", sqltest.StartMariaDB, sqlstore.MySQL}} {
		server, err := srv.start()
		if err != nil {
			o.Log("%s: not measured: %v", srv.name, err)
			continue
		}
		closers = append(closers, server.Close)
		o.Log("%s: %s", srv.name, server)
		db, err := server.Open()
		if err != nil {
			return nil, cleanup, err
		}
		if err := addSQL(srv.name, db, srv.d); err != nil {
			return nil, cleanup, err
		}
	}
	return stores, cleanup, nil
}

// nsPerOp is NsPerOp without its rounding to whole nanoseconds, which
// would hide the hot path's 2.6 ns.
func nsPerOp(r testing.BenchmarkResult) float64 {
	if r.N == 0 {
		return 0
	}
	return float64(r.T.Nanoseconds()) / float64(r.N)
}

func dur(r testing.BenchmarkResult) time.Duration { return time.Duration(nsPerOp(r)) }

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

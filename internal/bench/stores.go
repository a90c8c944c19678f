package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/internal/testservers/sqltest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
	"golang.org/x/oauth2"
)

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

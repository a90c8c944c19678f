package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// sealBenchToken has tokens of UltraCart's size: 64-character hex strings.
func sealBenchToken(n int) *oauth2.Token {
	tok := storetest.Token(fmt.Sprintf("%064x", n), time.Now().Add(time.Hour+time.Duration(n)*time.Millisecond))
	tok.RefreshToken = fmt.Sprintf("%064x", n+1<<40)
	return tok
}

func sealBenchKey(b *testing.B, id string) tokenstore.SealKey {
	secret := make([]byte, tokenstore.SealKeySize)
	if _, err := rand.Read(secret); err != nil {
		b.Fatal(err)
	}
	return tokenstore.SealKey{ID: id, Secret: secret}
}

func mustSealBench(b *testing.B, inner ucoauth.TokenStore) ucoauth.TokenStore {
	s, err := tokenstore.Seal(inner, sealBenchKey(b, "k1"))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkSeal is the cost of sealing one token (access and refresh
// tokens, AES-256-GCM), as Seal's Save pays it, over a store that does
// nothing else. Save first looks at what is stored; here nothing is.
func BenchmarkSeal(b *testing.B) {
	null := &nullStore{}
	s := mustSealBench(b, null)
	tok := sealBenchToken(1)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		null.tok = nil
		if err := s.Save(ctx, "merchant-1", tok); err != nil {
			b.Fatal(err)
		}
	}
}

// reportCPU adds cpu-ns/op, the process's CPU time per op: call it just
// before the loop, and its result after it (defer).
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// BenchmarkOpen is the cost of opening one sealed token, as Seal's Load
// pays it, over a store that does nothing else.
func BenchmarkOpen(b *testing.B) {
	null := &nullStore{}
	s := mustSealBench(b, null)
	ctx := context.Background()
	if err := s.Save(ctx, "merchant-1", sealBenchToken(1)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Load(ctx, "merchant-1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealedStore compares Save and Load on each store, plain and
// sealed. A sealed Save also loads (and opens) what is stored first, to
// refuse overwriting a record it cannot open.
func BenchmarkSealedStore(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) ucoauth.TokenStore
	}{
		{"memory", func(*testing.B) ucoauth.TokenStore { return tokenstore.NewMemory() }},
		// The same Memory seen only as a TokenStore: Seal cannot check the
		// stored record inside its compare-and-set, and loads and opens it
		// first, as every store did before (and Redis and SQL still do).
		{"memory-loadfirst", func(*testing.B) ucoauth.TokenStore { return struct{ ucoauth.TokenStore }{tokenstore.NewMemory()} }},
		{"file", func(b *testing.B) ucoauth.TokenStore {
			f, err := tokenstore.NewFile(filepath.Join(b.TempDir(), "tokens"))
			if err != nil {
				b.Fatal(err)
			}
			return f
		}},
		{"redis", func(b *testing.B) ucoauth.TokenStore {
			return redisstore.New(redistest.Start(b).TestClient(b))
		}},
	}
	ctx := context.Background()
	for _, st := range stores {
		for _, sealed := range []bool{false, true} {
			mode := "plain"
			if sealed {
				mode = "sealed"
			}
			open := func(b *testing.B) ucoauth.TokenStore {
				s := st.open(b)
				if sealed {
					s = mustSealBench(b, s)
				}
				return s
			}
			b.Run(fmt.Sprintf("store=%s/%s/op=save", st.name, mode), func(b *testing.B) {
				s := open(b)
				b.ReportAllocs()
				defer reportCPU(b)()
				i := 0
				for b.Loop() {
					i++
					if err := s.Save(ctx, "merchant-1", sealBenchToken(i)); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("store=%s/%s/op=load", st.name, mode), func(b *testing.B) {
				s := open(b)
				if err := s.Save(ctx, "merchant-1", sealBenchToken(1)); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.Load(ctx, "merchant-1"); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSealedHotPath shows that sealing leaves the hot path alone:
// Token() on a fresh token never reaches the store.
func BenchmarkSealedHotPath(b *testing.B) {
	s := mustSealBench(b, tokenstore.NewMemory())
	ctx := context.Background()
	tok := sealBenchToken(1)
	if err := s.Save(ctx, "merchant-1", tok); err != nil {
		b.Fatal(err)
	}
	src := ucoauth.NewTokenSource(&oauth2.Config{}, s, "merchant-1")
	if _, err := src.Token(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Token(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemorySaveSealedLength is a plain memory-store Save of tokens
// whose secrets are as long as sealed ones (131 characters for UltraCart's
// 64): what the store's own JSON costs for the longer values a sealed Save
// hands it. BenchmarkSealedStore's sealed save, less this, is what sealing
// adds beyond the longer record.
func BenchmarkMemorySaveSealedLength(b *testing.B) {
	s := tokenstore.NewMemory()
	ctx := context.Background()
	long := func(v string) string { return v + strings.Repeat("x", 131-len(v)) }
	b.ReportAllocs()
	defer reportCPU(b)()
	i := 0
	for b.Loop() {
		i++
		tok := sealBenchToken(i)
		tok.AccessToken, tok.RefreshToken = long(tok.AccessToken), long(tok.RefreshToken)
		if err := s.Save(ctx, "merchant-1", tok); err != nil {
			b.Fatal(err)
		}
	}
}

package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
	"golang.org/x/oauth2"
)

// The scenarios' correctness, at a small size; their numbers are measured by
// cmd/ucoauth-bench and by the benchmarks below, never asserted on time.
func TestScenariosCountRequests(t *testing.T) {
	assert.Equal(t, 1, Stampede(Ours, 200), "one refresh for a stampede")
	assert.Equal(t, 1, Stampede(Theirs, 200))
	o := OutageUcoauth(100, 60)
	assert.LessOrEqual(t, o, 10, "backoff through a minute of 500s")
	assert.GreaterOrEqual(t, o, 3, "but it keeps trying")
	assert.Equal(t, 100*5, OutageBare(100, 5), "x/oauth2 sends one request per call")
}

func TestFootprintsMeasureBothLibraries(t *testing.T) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	store := tokenstore.NewMemory()
	keys, err := Merchants(2000, store)
	require.NoError(t, err)
	for _, lib := range Libs {
		fp, err := Footprints(lib, srv.Config(), store, keys)
		require.NoError(t, err)
		t.Logf("%s: %.0f B per merchant, cold start %s", lib, fp.BytesPerMerchant, fp.ColdStart)
		assert.Positive(t, fp.BytesPerMerchant)
		assert.Less(t, fp.BytesPerMerchant, 4096.0)
	}
	assert.Zero(t, srv.Stats().Refreshes(), "fresh tokens: nothing refreshed")
}

// BenchmarkHotPath is scenario 1: Token() on a fresh token.
func BenchmarkHotPath(b *testing.B) {
	for _, lib := range Libs {
		b.Run("lib="+string(lib), func(b *testing.B) { HotPath(b, lib, false) })
	}
}

func BenchmarkHotPathParallel(b *testing.B) {
	for _, lib := range Libs {
		b.Run("lib="+string(lib), func(b *testing.B) { HotPath(b, lib, true) })
	}
}

// BenchmarkColdStart is scenario 6's cold start: the first Token() of a
// merchant, through the per-merchant handle, from a memory store.
func BenchmarkColdStart(b *testing.B) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	for _, lib := range Libs {
		b.Run("lib="+string(lib), func(b *testing.B) {
			store := tokenstore.NewMemory()
			keys, err := Merchants(b.N, store)
			require.NoError(b, err)
			get := handles(lib, srv.Config(), store)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				src, err := get(keys[i])
				if err != nil {
					b.Fatal(err)
				}
				if _, err := src.Token(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkColdStartSideBySide is BenchmarkColdStart with both libraries
// interleaved key by key in one loop, each from its own memory store
// holding the same tokens, so that the load of a shared machine and the
// garbage collector weigh on both alike. It reports each library's time per
// key and their ratio (ucoauth/xoauth2), the figure the cold-start goal is
// set on (at most 1.1).
func BenchmarkColdStartSideBySide(b *testing.B) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	ours, theirs := tokenstore.NewMemory(), tokenstore.NewMemory()
	keys, err := Merchants(b.N, ours, theirs)
	require.NoError(b, err)
	getOurs, getTheirs := handles(Ours, srv.Config(), ours), handles(Theirs, srv.Config(), theirs)
	first := func(get func(string) (oauth2.TokenSource, error), key string) time.Duration {
		start := time.Now()
		src, err := get(key)
		if err == nil {
			_, err = src.Token()
		}
		took := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		return took
	}
	var tookOurs, tookTheirs time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		// Alternate which goes first: the second may find caches warm.
		if i%2 == 0 {
			tookOurs += first(getOurs, keys[i])
			tookTheirs += first(getTheirs, keys[i])
		} else {
			tookTheirs += first(getTheirs, keys[i])
			tookOurs += first(getOurs, keys[i])
		}
	}
	b.ReportMetric(float64(tookOurs.Nanoseconds())/float64(b.N), "ucoauth-ns/key")
	b.ReportMetric(float64(tookTheirs.Nanoseconds())/float64(b.N), "xoauth2-ns/key")
	b.ReportMetric(float64(tookOurs)/float64(tookTheirs), "ratio")
}

// BenchmarkManagerSource is the lookup that precedes Token() per request.
func BenchmarkManagerSource(b *testing.B) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	m := ucoauth.NewManager(srv.Config(), tokenstore.NewMemory())
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("merchant-%d", i)
		m.Source(keys[i])
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.Source(keys[i&1023])
			i++
		}
	})
}

// BenchmarkStore is scenario 7. x/oauth2 has no store to compare with.
func BenchmarkStore(b *testing.B) {
	rs, err := redistest.New()
	require.NoError(b, err)
	defer rs.Close()
	b.Logf("redis: %s", rs)
	rc := rs.Client()
	defer rc.Close()
	file, err := tokenstore.NewFile(b.TempDir())
	require.NoError(b, err)
	for _, st := range []struct {
		name string
		s    ucoauth.TokenStore
	}{{"memory", tokenstore.NewMemory()}, {"file", file}, {"redis", redisstore.New(rc)}} {
		b.Run("op=load/store="+st.name, func(b *testing.B) { StoreLoad(b, st.s) })
		b.Run("op=save/store="+st.name, func(b *testing.B) { StoreSave(b, st.s) })
	}
}

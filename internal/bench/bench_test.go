package bench

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
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

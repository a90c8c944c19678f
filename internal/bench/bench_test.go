package bench

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// The scenarios' correctness, at a small size; their numbers are measured by
// cmd/ucoauth-bench and by the benchmarks, never asserted on time.
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

func BenchmarkStoreLoad(b *testing.B) {
	b.Run("store=memory", func(b *testing.B) { StoreLoad(b, tokenstore.NewMemory()) })
	b.Run("store=file", func(b *testing.B) {
		f, err := tokenstore.NewFile(b.TempDir())
		require.NoError(b, err)
		StoreLoad(b, f)
	})
}

func BenchmarkStoreSave(b *testing.B) {
	b.Run("store=memory", func(b *testing.B) { StoreSave(b, tokenstore.NewMemory()) })
	b.Run("store=file", func(b *testing.B) {
		f, err := tokenstore.NewFile(b.TempDir())
		require.NoError(b, err)
		StoreSave(b, f)
	})
}

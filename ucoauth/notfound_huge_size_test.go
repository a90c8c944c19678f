package ucoauth

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNotFoundCacheHugeSizeIsNotTiny: a size near the largest int must
// not wrap into a cache of one key per shard. (Rounding it up to whole
// shards overflowed: WithNotFoundCache(ttl, math.MaxInt) remembered 16
// keys.)
func TestNotFoundCacheHugeSizeIsNotTiny(t *testing.T) {
	for _, size := range []int{math.MaxInt, math.MaxInt - 1, math.MaxInt - missShards} {
		c := newMissCache(time.Second, size)
		require.NotNil(t, c)
		assert.GreaterOrEqual(t, c.max, math.MaxInt/missShards, "size %d", size)
		now := time.Now().UnixNano()
		for i := range 1000 {
			_, gen := c.hit(fmt.Sprint("k", i), now)
			c.record(fmt.Sprint("k", i), gen, now)
		}
		assert.Equal(t, 1000, c.len(), "size %d", size)
	}
}

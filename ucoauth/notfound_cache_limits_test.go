package ucoauth

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNotFoundCacheIsBounded: however many keys are missing, the cache
// holds at most its size (rounded up to whole shards), and expired
// entries are dropped first.
func TestNotFoundCacheIsBounded(t *testing.T) {
	c := newMissCache(time.Second, 64)
	require.NotNil(t, c)
	now := time.Now().UnixNano()
	for i := range 100_000 {
		_, gen := c.hit(fmt.Sprint("k", i), now)
		c.record(fmt.Sprint("k", i), gen, now)
	}
	assert.LessOrEqual(t, c.len(), 64)
	assert.Positive(t, c.len())
	hit, _ := c.hit("k99999", now)
	assert.True(t, hit, "the latest entry is kept")

	// Later, new keys push the expired ones out first.
	later := now + int64(2*time.Second)
	_, gen := c.hit("fresh", later)
	c.record("fresh", gen, later)
	hit, _ = c.hit("fresh", later)
	assert.True(t, hit)
	assert.LessOrEqual(t, c.len(), 64)

	assert.Nil(t, newMissCache(-1, 0), "off")
	d := newMissCache(0, 0)
	assert.Equal(t, int64(DefaultNotFoundTTL), d.ttl)
	assert.Equal(t, DefaultNotFoundSize/missShards, d.max)
}

// TestNotFoundCacheEntries: an entry lives for its lifetime and no more, a
// clock stepping back ends it, saturating at the end of time, and a forget
// ends it and any read under way.
func TestNotFoundCacheEntries(t *testing.T) {
	c := newMissCache(time.Second, 0)
	now := time.Now().UnixNano()
	_, gen := c.hit("k", now)
	c.record("k", gen, now)
	hit, _ := c.hit("k", now+int64(999*time.Millisecond))
	assert.True(t, hit)
	hit, _ = c.hit("k", now+int64(time.Second))
	assert.False(t, hit, "expired")

	c.record("k", gen, now)
	hit, _ = c.hit("k", now-int64(time.Minute))
	assert.False(t, hit, "the clock stepped back")

	_, gen = c.hit("end", math.MaxInt64-1)
	c.record("end", gen, math.MaxInt64-1)
	hit, _ = c.hit("end", math.MaxInt64-1)
	assert.True(t, hit, "saturates at the end of time")

	// A read that began before a forget records nothing.
	_, gen = c.hit("raced", now)
	c.forget("raced")
	c.record("raced", gen, now)
	hit, _ = c.hit("raced", now)
	assert.False(t, hit, "a read that overlapped a save was remembered")
}

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

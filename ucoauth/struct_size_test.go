package ucoauth

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// A process may hold 100,000 idle sources (BENCHMARKS.md, scenario 6): keep
// the per-merchant structs inside their size classes. What is rarely needed
// (failures, backoff, refused tokens, background work, last refresh time)
// lives behind TokenSource.h, nil for a source that never refreshed or
// failed.
func TestPerMerchantStructSizes(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(TokenSource{}), uintptr(64), "TokenSource")
	assert.LessOrEqual(t, unsafe.Sizeof(state{}), uintptr(24), "state")
}

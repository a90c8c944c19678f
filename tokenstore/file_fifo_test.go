//go:build unix

package tokenstore_test

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
)

// TestFileRefusesFIFOTokenFile: a planted FIFO would block a plain open
// forever; it is refused at once.
func TestFileRefusesFIFOTokenFile(t *testing.T) {
	f := newFile(t)
	require.NoError(t, syscall.Mkfifo(tokenstore.FilePath(f, "m"), 0o600))
	_, err := f.Load(t.Context(), "m")
	assert.ErrorIs(t, err, tokenstore.ErrUnsafePath)
	assert.Contains(t, err.Error(), "not a regular file")
}

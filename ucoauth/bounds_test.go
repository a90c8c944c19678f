package ucoauth

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cost bounds behind TestHugeSecretListStaysLinear,
// TestPaddedErrorAnswerParsesAndPrintsFast and
// TestLongSecretInLongTextStaysFast, checked by structure rather than by
// the clock: what one answer adds to the redactor is bounded, the replacer
// is built once and reused by every Error(), and only a bounded window of a
// server's text is ever scrubbed.

// paddedBody is a token answer with n distinct short strings nested under a
// key that names a token, as a hostile server would pad it.
func paddedBody(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"access_token":"AT-1-xxxxxxxx","refresh_token":"RT-1-yyyyyyyy","expires_in":3600,"token_noise":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%06x"`, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func TestAnswerSecretsAreBounded(t *testing.T) {
	const n = 116000
	red := newRedactor("client-secret-1")
	w, err := parseBody(paddedBody(n), red)
	require.NoError(t, err)
	require.NotNil(t, w)
	red.mu.Lock()
	defer red.mu.Unlock()
	assert.LessOrEqual(t, len(red.secrets), maxAnswerSecrets+1, "one answer of %d strings grew the redactor past its bound", n)
	assert.Contains(t, red.seen, "AT-1-xxxxxxxx", "the top-level tokens come first and are always scrubbed")
	assert.Contains(t, red.seen, "RT-1-yyyyyyyy")
}

func TestReplacerIsBuiltOnce(t *testing.T) {
	red := newRedactor("client-secret-1", "RT-abcdefgh")
	first := red.replacer()
	require.NotNil(t, first)
	for range 100 {
		assert.Same(t, first, red.replacer(), "a scrub rebuilt the replacer")
	}
	red.add("AT-new-token")
	rebuilt := red.replacer()
	assert.NotSame(t, first, rebuilt, "a new secret must be in the replacer")
	assert.NotContains(t, red.scrub("x AT-new-token y"), "AT-new-token")

	red.add("AT-new-token") // a secret it has already costs nothing
	assert.Same(t, rebuilt, red.replacer())
}

func TestScrubWindowIsBounded(t *testing.T) {
	long := strings.Repeat("a", 1<<20)
	assert.Len(t, scrubWindow(long), maxScrubText, "a 1 MiB header is scrubbed whole")
	short := "short text"
	assert.Equal(t, short, scrubWindow(short))
	assert.LessOrEqual(t, len(clip(long)), maxText+len("..."))
}

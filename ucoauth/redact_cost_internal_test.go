package ucoauth

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ucoauth/go-ucoauth/internal/redact"
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
	assert.LessOrEqual(t, red.r.Len(), redact.MaxAnswerSecrets+1, "one answer of %d strings grew the redactor past its bound", n)
	assert.True(t, red.has("AT-1-xxxxxxxx"), "the top-level tokens come first and are always scrubbed")
	assert.True(t, red.has("RT-1-yyyyyyyy"))
}

func TestScrubWindowIsBounded(t *testing.T) {
	red := newRedactor("RT-abcdefgh-secret")
	long := strings.Repeat("a", 1<<20)
	out := red.scrubPrefix(long, maxScrubText)
	assert.LessOrEqual(t, len(out), maxScrubText+len("..."), "a 1 MiB header is not scrubbed whole")
	assert.True(t, strings.HasSuffix(out, "..."), "the cut is marked")
	short := "short text"
	assert.Equal(t, short, red.scrubPrefix(short, maxScrubText))
	assert.LessOrEqual(t, len(clip(long)), maxText+len("..."))

	// A cut inside a multi-byte character keeps whole characters: the text
	// may be a scope that a store then refuses as invalid UTF-8.
	wide := strings.Repeat("é", maxScrubText)
	for n := maxScrubText; n < maxScrubText+4; n++ { // cuts at either byte of a character
		assert.True(t, utf8.ValidString(red.scrubPrefix(wide, n)), "cut at %d", n)
	}
}

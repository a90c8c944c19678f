package redact

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The replacer is built once after the last add and reused by every scrub
// (every Error() of an error that holds the redactor). Ported from
// ucoauth's bounds test when the redactor moved here.
func TestReplacerIsBuiltOnce(t *testing.T) {
	red := New("client-secret-1", "RT-abcdefgh")
	first := red.replacer()
	require.NotNil(t, first)
	for range 100 {
		assert.Same(t, first, red.replacer(), "a scrub rebuilt the replacer")
	}
	red.Add("AT-new-token")
	rebuilt := red.replacer()
	assert.NotSame(t, first, rebuilt, "a new secret must be in the replacer")
	assert.NotContains(t, red.Scrub("x AT-new-token y"), "AT-new-token")

	red.Add("AT-new-token") // a secret it has already costs nothing
	assert.Same(t, rebuilt, red.replacer())
}

// One answer adds at most MaxAnswerSecrets strings, top-level tokens first,
// however many it nests under a token key.
func TestAnswerSecretsAreBoundedTopLevelFirst(t *testing.T) {
	var b strings.Builder
	b.WriteByte('[')
	for i := range 10000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%06x"`, i)
	}
	b.WriteByte(']')
	vals := []json.RawMessage{json.RawMessage(b.String()), json.RawMessage(`"AT-top-level-1"`), json.RawMessage(`{"k":"nested-secret"}`)}
	out := AnswerSecrets(vals)
	assert.LessOrEqual(t, len(out), MaxAnswerSecrets)
	require.NotEmpty(t, out)
	assert.Equal(t, "AT-top-level-1", out[0], "a top-level string comes before any nested one")
}

// A nil Redactor scrubs nothing and wraps nothing away.
func TestNilRedactorScrubsNothing(t *testing.T) {
	var r *Redactor
	assert.Equal(t, "abc secret", r.Scrub("abc secret"))
	assert.False(t, r.Has("secret"))
	assert.Equal(t, 0, r.Len())
	assert.EqualError(t, r.Wrap(fmt.Errorf("x secret")), "x secret")
	assert.Nil(t, r.Wrap(nil))
}

// Text keeps the cause for errors.Is while printing only msg.
func TestTextUnwrapsToTheCause(t *testing.T) {
	cause := fmt.Errorf("value 'tok-123456' refused")
	err := Text("value "+Placeholder+" refused", cause)
	assert.ErrorIs(t, err, cause)
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v %q", err, err, err, err), "tok-123456")
}

// A database message quoting a record shows none of it: every run of
// MinRun bytes of the record is replaced, and a huge message is not shown.
func TestWithoutRunsHidesAQuotedRecord(t *testing.T) {
	rec := []byte(`{"version":1,"access_token":"AT-secret-123456","refresh_token":"RT-secret-654321"}`)
	cause := fmt.Errorf(`Incorrect integer value: '%s' for column 'expiry'`, rec)
	err := WithoutRuns(cause, rec)
	assert.ErrorIs(t, err, cause)
	out := fmt.Sprintf("%v %+v %q", err, err, err)
	assert.NotContains(t, out, "AT-secret")
	assert.NotContains(t, out, "RT-secret")
	assert.Contains(t, out, Placeholder)
	assert.Contains(t, out, "for column 'expiry'", "the rest of the message stays")

	plain := fmt.Errorf("connection refused")
	assert.Same(t, plain, WithoutRuns(plain, rec), "a message without the record is left as it is")

	huge := fmt.Errorf("%s", strings.Repeat("x", MaxScannedMessage+1))
	assert.NotContains(t, WithoutRuns(huge, rec).Error(), "xxxx", "a huge message is not shown")
	assert.Nil(t, WithoutRuns(nil, rec))
}

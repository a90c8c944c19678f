package ucoauth_test

// What a padded or huge token answer costs to parse and print stays linear,
// and padding hides no secret from the scrubber
// (TestTokenAfterPaddingIsStillScrubbed). The structural bounds behind these
// are in redact_cost_internal_test.go.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/internal/redact"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// paddedTokenBody is a 2xx token answer padded to just under the 1 MiB cap
// with n distinct short strings under a key that contains "token".
func paddedTokenBody(n int) string {
	var b strings.Builder
	b.WriteString(`{"access_token":"AT-1-xxxxxxxx","refresh_token":"RT-1-yyyyyyyy","expires_in":3600,"token_noise":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%06x"`, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// TestHugeSecretListStaysLinear: an answer of ~116,000 short strings under
// a key containing "token" (just under the 1 MiB cap) is parsed well within
// the caller's deadline: what the redactor collects is bounded and deduped
// through a set, not a quadratic scan.
func TestHugeSecretListStaysLinear(t *testing.T) {
	n := (1<<20 - 200) / 9
	body := paddedTokenBody(n)
	require.Less(t, len(body), 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	cfg := &oauth2.Config{ClientID: "cid", Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	start := time.Now()
	tok, err := ucoauth.Exchange(t.Context(), cfg, "code-abcdef")
	took := time.Since(start)
	t.Logf("%d strings, %d bytes: Exchange took %s (the bound is checked by TestAnswerSecretsAreBounded)", n, len(body), took)
	require.NoError(t, err)
	assert.Equal(t, "AT-1-xxxxxxxx", tok.AccessToken, "padding does not spoil the answer's own token")
}

// TestPaddedErrorAnswerParsesAndPrintsFast: the same padding in a 400
// answer costs little to parse and little to print: the replacer is built
// once, from a bounded set of secrets, not once per Error() call.
func TestPaddedErrorAnswerParsesAndPrintsFast(t *testing.T) {
	for _, key := range []string{"token_noise", "id_token", "refresh_token"} {
		t.Run(key, func(t *testing.T) {
			var b strings.Builder
			b.WriteString(`{"error":"invalid_request","` + key + `":[`)
			const n = 30000
			for i := range n {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `"%06x"`, i)
			}
			b.WriteString(`]}`)
			body := b.String()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(400)
				_, _ = io.WriteString(w, body)
			}))
			defer srv.Close()
			cfg := &oauth2.Config{ClientID: "cid", Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
			start := time.Now()
			_, err := ucoauth.Exchange(context.Background(), cfg, "code-abcdef")
			parse := time.Since(start)
			require.Error(t, err)
			start = time.Now()
			_ = err.Error()
			first := time.Since(start)
			start = time.Now()
			for range 100 {
				_ = err.Error()
			}
			more := time.Since(start)
			// The cost bounds are checked by structure, not by the clock,
			// in TestAnswerSecretsAreBounded and TestReplacerIsBuiltOnce.
			t.Logf("%d strings (%d bytes): Exchange %s, first err.Error() %s, 100 more %s", n, len(body), parse, first, more)
			var ue *ucoauth.Error
			assert.ErrorAs(t, err, &ue, "a hostile answer is still a typed error")
			assert.NotContains(t, err.Error(), `"000001"`, "the padding under a token key is never quoted")
		})
	}
}

// TestTokenAfterPaddingIsStillScrubbed: padding nested under one token key
// cannot push the top-level token of another out of the redactor's bounded
// set: a server echoing its own new refresh token in an error has it
// scrubbed.
func TestTokenAfterPaddingIsStillScrubbed(t *testing.T) {
	const rt = "RT-after-the-padding-1234"
	var b strings.Builder
	b.WriteString(`{"code":{"nested":["AT-nested-5678"]},"id_token":[`)
	for i := range 1000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"pad-%06x"`, i)
	}
	b.WriteString(`],"refresh_token":"` + rt + `","error":"server_error","error_description":"issued ` + rt + ` and AT-nested-5678"}`)
	rs := newRaw(t, 400, b.String(), "Content-Type", "application/json")
	_, err := ucoauth.Exchange(t.Context(), rs.config("client-secret-1"), "code-1")
	require.Error(t, err)
	out := printed(err)
	assert.NotContains(t, out, rt)
	assert.NotContains(t, out, "AT-nested-5678", "a token nested under a token key is scrubbed too")
	assert.Contains(t, out, redact.Placeholder)
}

// TestLongSecretInLongTextStaysFast: scrubbing costs the text's length
// times the longest secret's; a 1 MiB UC-REST-ERROR header next to a
// 300 KB token of the same answer is scrubbed within a bounded window.
func TestLongSecretInLongTextStaysFast(t *testing.T) {
	long := strings.Repeat("a", 300000)
	body := `{"error":"invalid_request","refresh_token":"` + long + `b","error_description":"` + long + long + `"}`
	rs := newRaw(t, 400, body, "Content-Type", "application/json", "UC-REST-ERROR", strings.Repeat("a", 1<<20))
	start := time.Now()
	_, err := ucoauth.Exchange(t.Context(), rs.config("client-secret-1"), "code-1")
	require.Error(t, err)
	_ = err.Error()
	took := time.Since(start)
	// The cost bound is checked by structure in TestScrubWindowIsBounded.
	t.Logf("Exchange and Error: %s", took)
	assert.NotContains(t, err.Error(), long, "the echoed refresh token is scrubbed")
}

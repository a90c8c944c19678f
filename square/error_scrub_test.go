package square_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/square"
)

// A secret echoed in an encoding the engine's boundary knows (lowercase
// percent escapes, base64 of a longer text holding it) is scrubbed from a
// square.Client's errors too: the package scrubs through the module's one
// security boundary, not a narrower list of its own.
func TestClientErrorsScrubEveryEncodingTheBoundaryKnows(t *testing.T) {
	const secret = "sq0csp-a/b+c=ScrubMe4"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		auth := r.Header.Get("Authorization")
		lower := strings.NewReplacer("/", "%2f", "+", "%2b", "=", "%3d").Replace(secret)
		b64 := base64.StdEncoding.EncodeToString([]byte("echoed " + auth))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"errors":[{"category":"AUTHENTICATION_ERROR","code":"UNAUTHORIZED","detail":"secret %s header %s"}]}`, lower, b64)
	}))
	defer srv.Close()
	cfg := &oauth2.Config{ClientID: "sq0idp-scrub", ClientSecret: secret, Endpoint: square.EndpointAt(srv.URL)}
	err := square.NewClient(cfg).RevokeMerchant(t.Context(), "MLSCRUB1")
	require.Error(t, err)
	out := printed(t, err)
	assert.Contains(t, out, "[REDACTED]")
	assert.NotContains(t, out, "ScrubMe4", "lowercase percent-encoded")
	core := base64.StdEncoding.EncodeToString([]byte("echoed Client " + secret))
	assert.NotContains(t, out, core[24:48], "base64 of the echoed header")
}

// errTransport fails every request with its text.
type errTransport string

func (e errTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return nil, errors.New(string(e))
}

// A cause whose text is long is cut for the message only after it is
// scrubbed: a cut through a secret would leave its head, which no longer
// matches, in clear.
func TestClientErrorCutsACauseOnlyAfterScrubbingIt(t *testing.T) {
	const secret = "sq0csp-CutThroughMe-0123456789"
	cfg := &oauth2.Config{ClientID: "sq0idp-cut", ClientSecret: secret, Endpoint: square.EndpointAt("https://127.0.0.1:1")}
	c := square.NewClient(cfg)
	// The cause reads `Post "<token URL>": <text>`; the text puts the
	// secret across byte 200 of it, where the message cuts.
	lead := len(`Post "` + cfg.Endpoint.TokenURL + `": `)
	c.HTTPClient = &http.Client{Transport: errTransport(strings.Repeat("x", 180-lead) + secret)}
	_, err := c.Refresh(t.Context(), "EQAA-refresh-cut-1")
	require.Error(t, err)
	out := printed(t, err)
	assert.NotContains(t, out, "sq0csp-CutThrough")
	assert.NotContains(t, out, "CutThroughMe")
}

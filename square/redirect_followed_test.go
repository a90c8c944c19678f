package square_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// innerClient is a RoundTripper that is an http.Client of its own: it
// follows redirects whatever the outer client says.
type innerClient struct{ c *http.Client }

func (i innerClient) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.RequestURI = ""
	return i.c.Do(r2)
}

// An answer that the caller's own Transport reached by following a redirect
// comes from wherever the redirect pointed: a square.Client believes
// nothing from it, as the engine does not.
func TestClientRefusesAnAnswerItsTransportReachedByARedirect(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"planted-access","token_type":"bearer","expires_at":"2099-01-01T00:00:00Z","refresh_token":"planted-refresh"}`)
	}))
	defer other.Close()
	sq := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/oauth2/token", http.StatusTemporaryRedirect)
	}))
	defer sq.Close()
	cfg := &oauth2.Config{ClientID: "sq0idp-redir", ClientSecret: "sq0csp-redir-secret", Endpoint: square.EndpointAt(sq.URL)}
	c := square.NewClient(cfg)
	c.HTTPClient = &http.Client{Transport: innerClient{&http.Client{}}}
	ans, err := c.Refresh(t.Context(), "EQAA-redir-refresh")
	require.Error(t, err)
	assert.Nil(t, ans, "the other host's tokens are not taken")
	assert.ErrorIs(t, err, ucoauth.ErrRedirect)
}

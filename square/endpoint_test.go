package square_test

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/square"
	"golang.org/x/oauth2"
)

func TestEndpointsAreSquares(t *testing.T) {
	assert.Equal(t, "https://connect.squareup.com/oauth2/authorize", square.Endpoint.AuthURL)
	assert.Equal(t, "https://connect.squareup.com/oauth2/token", square.Endpoint.TokenURL)
	assert.Equal(t, "https://connect.squareup.com/oauth2/revoke", square.RevokeURL(square.Endpoint))
	assert.Equal(t, "https://connect.squareup.com/oauth2/token/status", square.StatusURL(square.Endpoint))
	assert.Equal(t, "https://connect.squareupsandbox.com/oauth2/token", square.SandboxEndpoint.TokenURL)
	assert.Equal(t, "https://connect.squareupsandbox.com/oauth2/revoke", square.RevokeURL(square.SandboxEndpoint))
	assert.Equal(t, oauth2.AuthStyleInParams, square.Endpoint.AuthStyle)
	assert.Equal(t, "http://127.0.0.1:9/oauth2/token", square.EndpointAt("http://127.0.0.1:9/").TokenURL, "a trailing slash is ignored")
	assert.Regexp(t, `^\d{4}-\d{2}-\d{2}$`, square.DefaultVersion)
}

func TestAuthCodeURLHasSpaceSeparatedScopesAndSessionFalse(t *testing.T) {
	cfg := square.NewConfig("sq0idp-app", "", "https://app.example/cb", "MERCHANT_PROFILE_READ", "PAYMENTS_READ")
	verifier := oauth2.GenerateVerifier()
	u, err := url.Parse(cfg.AuthCodeURL("st4te", square.SessionFalse, oauth2.S256ChallengeOption(verifier)))
	require.NoError(t, err)
	q := u.Query()
	assert.Equal(t, "connect.squareup.com", u.Host)
	assert.Equal(t, "/oauth2/authorize", u.Path)
	assert.Equal(t, "MERCHANT_PROFILE_READ PAYMENTS_READ", q.Get("scope"))
	assert.Equal(t, "false", q.Get("session"))
	assert.Equal(t, "st4te", q.Get("state"))
	assert.Equal(t, "S256", q.Get("code_challenge_method"))
	assert.NotEmpty(t, q.Get("code_challenge"))
	assert.Equal(t, "sq0idp-app", q.Get("client_id"))
}

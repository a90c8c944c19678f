package square_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/square"
)

func decodeBody(t *testing.T, r square.TokenRequest) map[string]any {
	t.Helper()
	b, err := r.Body()
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

func TestTokenRequestBodyIsSquaresJSON(t *testing.T) {
	t.Run("code flow", func(t *testing.T) {
		m := decodeBody(t, square.TokenRequest{ClientID: "id", ClientSecret: "sec", GrantType: square.GrantAuthorizationCode,
			Code: "c0de", RedirectURI: "https://app/cb", RefreshToken: "stale-rt"})
		assert.Equal(t, map[string]any{"client_id": "id", "client_secret": "sec", "grant_type": "authorization_code",
			"code": "c0de", "redirect_uri": "https://app/cb"}, m, "a refresh token set by mistake does not travel with a code")
	})
	t.Run("PKCE code", func(t *testing.T) {
		m := decodeBody(t, square.TokenRequest{ClientID: "id", GrantType: square.GrantAuthorizationCode, Code: "c0de", CodeVerifier: "v3rifier"})
		assert.NotContains(t, m, "client_secret", "absent under PKCE, not empty")
		assert.Equal(t, "v3rifier", m["code_verifier"])
	})
	t.Run("refresh with scopes and short_lived", func(t *testing.T) {
		m := decodeBody(t, square.TokenRequest{ClientID: "id", ClientSecret: "sec", GrantType: square.GrantRefreshToken,
			RefreshToken: "rt", Code: "stale-code", CodeVerifier: "stale-v", Scopes: []string{"A", "B"}, ShortLived: true})
		assert.Equal(t, map[string]any{"client_id": "id", "client_secret": "sec", "grant_type": "refresh_token",
			"refresh_token": "rt", "scopes": []any{"A", "B"}, "short_lived": true}, m)
	})
}

func TestTokenRequestBodyRefusesIncompleteRequests(t *testing.T) {
	for name, r := range map[string]square.TokenRequest{
		"no client":     {GrantType: square.GrantRefreshToken, RefreshToken: "rt"},
		"no code":       {ClientID: "id", GrantType: square.GrantAuthorizationCode},
		"no refresh":    {ClientID: "id", GrantType: square.GrantRefreshToken, ClientSecret: "sekret-value"},
		"unknown grant": {ClientID: "id", GrantType: "migration_token", RefreshToken: "rt-value-1"},
	} {
		_, err := r.Body()
		assert.Error(t, err, name)
		if err != nil {
			assert.NotContains(t, err.Error(), "sekret-value", name)
			assert.NotContains(t, err.Error(), "rt-value-1", name)
		}
	}
}

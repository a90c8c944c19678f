package interop_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/interop/fositeserver"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// TestFositeRevokeURL: fosite's revocation endpoint served where the revoke
// URL cannot be derived from the token URL (Hydra's /oauth2/revoke) is
// reached through ucoauth.WithRevokeURL, by TokenSource.Revoke and by the
// package-level Revoke.
func TestFositeRevokeURL(t *testing.T) {
	const path = "/oauth2/revoke"
	srv := newServerWith(t, fositeserver.Options{RevokePath: path})
	cfg := srv.PostConfig()
	revokeURL := ucoauth.WithRevokeURL(srv.URL + path)
	p := generic(srv.URL) // its revoke URL, fositeserver.RevokePath, is not served here
	api := func(tok *oauth2.Token) int {
		status, _, err := get(t, oauth2.NewClient(t.Context(), oauth2.StaticTokenSource(tok)), srv.APIURL())
		require.NoError(t, err)
		return status
	}

	// Not vacuous: the provider's URL (.../oauth/revoke) is not served.
	tok0 := connect(t, srv, cfg)
	assert.Error(t, ucoauth.Revoke(t.Context(), cfg, tok0.AccessToken, p))
	assert.Equal(t, http.StatusOK, api(tok0))

	store := tokenstore.NewMemory()
	tok := connect(t, srv, cfg)
	require.NoError(t, store.Save(t.Context(), merchant, tok))
	src := ucoauth.NewTokenSource(cfg, store, merchant, p, revokeURL)
	require.NoError(t, src.Revoke(t.Context()))
	_, err := store.Load(t.Context(), merchant)
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
	assert.Equal(t, http.StatusUnauthorized, api(tok))

	require.NoError(t, ucoauth.Revoke(t.Context(), cfg, tok0.AccessToken, p, revokeURL))
	assert.Equal(t, http.StatusUnauthorized, api(tok0))
	assert.Equal(t, 3, srv.Stats().Revocations, "TokenSource.Revoke sends the access and the refresh token; Revoke the access token")
}

package ucoauthtest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/internal/ultracart"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// TestRevokeGrantKillsEveryToken: RevokeGrant kills every access and
// refresh token of every grant of the merchant, and nothing of another
// merchant; a new authorization works.
func TestRevokeGrantKillsEveryToken(t *testing.T) {
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	a1, a2, other := uc.Issue("A"), uc.Issue("A"), uc.Issue("B")
	assert.Equal(t, 2, uc.RevokeGrant("A"), "both of A's grants")
	assert.Zero(t, uc.RevokeGrant("A"), "none left")

	for _, tok := range []*oauth2.Token{a1, a2} {
		assert.Equal(t, http.StatusUnauthorized, apiStatus(t, uc, tok.AccessToken), "the API refuses its access tokens")
		assert.ErrorIs(t, refreshWith(t, uc, tok), ucoauth.ErrReauthorizationRequired, "a refresh answers invalid_grant")
	}
	assert.Equal(t, 2, uc.Stats().InvalidGrant)
	assert.Equal(t, http.StatusOK, apiStatus(t, uc, other.AccessToken), "another merchant is unaffected")
	assert.NoError(t, refreshWith(t, uc, other))

	again := uc.Issue("A")
	assert.Equal(t, http.StatusOK, apiStatus(t, uc, again.AccessToken), "the merchant can connect again")
	assert.NoError(t, refreshWith(t, uc, again))
}

func apiStatus(t *testing.T, uc *ucoauthtest.Server, access string) int {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, uc.BaseURL()+"/order/orders", nil)
	require.NoError(t, err)
	req.Header.Set(ultracart.HeaderAPIVersion, ultracart.APIVersion)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// refreshWith refreshes tok through a TokenSource, as a client would.
func refreshWith(t *testing.T, uc *ucoauthtest.Server, tok *oauth2.Token) error {
	store := tokenstore.NewMemory()
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	require.NoError(t, store.Save(t.Context(), "k", &expired))
	src := ucoauth.NewTokenSource(uc.Config(), store, "k")
	defer src.Close()
	_, err := src.Token()
	return err
}

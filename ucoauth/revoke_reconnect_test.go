package ucoauth_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// TestRefreshOverReconnectServesNewGrant: a process refreshes a grant
// that is revoked, and the merchant connects again (a new grant saved by
// another process), while its refresh request is under way. Its save is
// refused, rightly, but the store holds the merchant's new token: the
// process serves it, and never tells its callers that the merchant has to
// connect again (ErrReauthorizationRequired), which an application may
// act on (mark the merchant disconnected, e-mail them).
func TestRefreshOverReconnectServesNewGrant(t *testing.T) {
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	uc.SetRevokeAnswer(ucoauthtest.RevokeAccessOnly)
	store := tokenstore.NewMemory()
	tok := uc.Issue("M")
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	require.NoError(t, store.Save(t.Context(), "m", ucoauth.WithGrantID(&expired, ucoauth.GrantID(tok))))

	var once sync.Once
	var again *oauth2.Token
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if strings.HasSuffix(r.URL.Path, "/oauth/token") {
			once.Do(func() {
				require.NoError(t, store.Tombstone(context.Background(), "m"), "another process revokes")
				again = uc.Issue("M")
				require.NoError(t, store.Save(context.Background(), "m", again), "and the merchant connects again")
			})
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	src := ucoauth.NewTokenSource(uc.Config(), store, "m", ucoauth.WithHTTPClient(client))
	defer src.Close()

	got, err := src.Token()
	require.Equal(t, 1, uc.Stats().Refreshes(), "precondition: the refresh reached the server")
	require.NoError(t, err, "the merchant is connected")
	assert.Equal(t, again.AccessToken, got.AccessToken, "the new grant's token")
	assert.Equal(t, ucoauth.GrantID(again), ucoauth.GrantID(got))
	assert.Equal(t, ucoauth.StateFresh, src.Status().State)
	stored, err := store.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, again.AccessToken, stored.AccessToken, "the revoked grant's refresh was not saved")
}

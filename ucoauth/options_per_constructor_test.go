package ucoauth_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// Each constructor takes only the options it applies: an option one of
// them would ignore is not of its type.
func TestOptionsApplyOnlyWhereTheyAreTaken(t *testing.T) {
	sourceOnly := map[string]any{
		"WithEarlyRefresh":   ucoauth.WithEarlyRefresh(time.Minute),
		"WithRefreshTimeout": ucoauth.WithRefreshTimeout(time.Second),
		"WithBackoff":        ucoauth.WithBackoff(time.Second, time.Minute),
		"WithRefreshHook":    ucoauth.WithRefreshHook(nil),
	}
	endpoint := map[string]any{
		"WithSimpleKey":  ucoauth.WithSimpleKey("k"),
		"WithHTTPClient": ucoauth.WithHTTPClient(nil),
		"WithProvider":   ucoauth.WithProvider(ucoauth.UltraCart()),
		"WithLogger":     ucoauth.WithLogger(nil),
		"WithClock":      ucoauth.WithClock(time.Now),
	}
	revokeOnly := map[string]any{
		"WithRevokeURL": ucoauth.WithRevokeURL("https://127.0.0.1/revoke"),
	}
	exchangeOnly := map[string]any{
		"WithAuthCodeOptions": ucoauth.WithAuthCodeOptions(),
	}
	managerOnly := map[string]any{
		"WithIdleTimeout":   ucoauth.WithIdleTimeout(time.Minute),
		"WithNotFoundCache": ucoauth.WithNotFoundCache(time.Second, 10),
	}
	for name, o := range sourceOnly {
		assert.Implements(t, (*ucoauth.Option)(nil), o, name)
		assert.Implements(t, (*ucoauth.ManagerOption)(nil), o, name)
		_, revoke := o.(ucoauth.EndpointOption)
		assert.False(t, revoke, "%s: Revoke would ignore it", name)
	}
	for name, o := range endpoint {
		assert.Implements(t, (*ucoauth.EndpointOption)(nil), o, name)
		assert.Implements(t, (*ucoauth.Option)(nil), o, name)
		assert.Implements(t, (*ucoauth.ManagerOption)(nil), o, name)
		assert.Implements(t, (*ucoauth.ExchangeOption)(nil), o, name)
	}
	for name, o := range endpoint {
		assert.Implements(t, (*ucoauth.RevokeOption)(nil), o, name)
	}
	for name, o := range revokeOnly {
		assert.Implements(t, (*ucoauth.RevokeOption)(nil), o, name)
		assert.Implements(t, (*ucoauth.Option)(nil), o, name)
		assert.Implements(t, (*ucoauth.ManagerOption)(nil), o, name)
		_, exchange := o.(ucoauth.ExchangeOption)
		assert.False(t, exchange, "%s: Exchange would ignore it", name)
	}
	for name, o := range exchangeOnly {
		assert.Implements(t, (*ucoauth.ExchangeOption)(nil), o, name)
		_, src := o.(ucoauth.Option)
		assert.False(t, src, "%s: a TokenSource would ignore it", name)
	}
	for name, o := range managerOnly {
		assert.Implements(t, (*ucoauth.ManagerOption)(nil), o, name)
		_, src := o.(ucoauth.Option)
		assert.False(t, src, "%s: a lone TokenSource would ignore it", name)
	}
}

// A Manager's source options reach every source it makes.
func TestManagerSourcesTakeTheManagersSourceOptions(t *testing.T) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(t.Context(), "m", srv.Issue("m")))
	later := func() time.Time { return time.Now().Add(24 * time.Hour) } // the token has expired
	m := ucoauth.NewManager(srv.Config(), store, ucoauth.WithClock(later), ucoauth.WithIdleTimeout(0))
	defer m.Close()
	before := srv.Stats().Refreshes()
	_, err := m.Source("m").Token()
	require.NoError(t, err)
	assert.Equal(t, before+1, srv.Stats().Refreshes(), "the Manager's clock made the source refresh")
}

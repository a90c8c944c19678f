package ucoauth_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// Exchange, DeviceAuth and DeviceAccessToken never revoke: WithRevokeURL
// is not an option they take, so it cannot be given to them and ignored.
func TestRevokeURLIsNotTakenByCallsThatNeverRevoke(t *testing.T) {
	o := ucoauth.WithRevokeURL("https://127.0.0.1/revoke")
	_, exchange := any(o).(ucoauth.ExchangeOption)
	assert.False(t, exchange, "Exchange would ignore it")
	assert.Implements(t, (*ucoauth.Option)(nil), o, "a TokenSource revokes")
	assert.Implements(t, (*ucoauth.ManagerOption)(nil), o, "a Manager revokes")
}

// Revoke takes WithLogger, so it logs to it: the revoke, never the token.
func TestRevokeLogsToItsLogger(t *testing.T) {
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	tok := uc.Issue("m-revoke-log")
	var logs strings.Builder
	err := ucoauth.Revoke(t.Context(), uc.Config(), tok.AccessToken,
		ucoauth.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "ucoauth: revoked")
	assert.NotContains(t, logs.String(), tok.AccessToken)
}

// DeviceAuth takes WithLogger, so an anomaly it survives (an unusable
// expires_in, read as no expiry) is logged there.
func TestDeviceAuthLogsAnUnusableExpiresIn(t *testing.T) {
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	uc.FailNext(1, ucoauthtest.Failure{Status: 200, Path: "/oauth/device/authorize",
		Body: `{"device_code":"dc-log-1","user_code":"LOGS","verification_uri":"https://x.example/d","expires_in":"soon"}`})
	var logs strings.Builder
	da, err := ucoauth.DeviceAuth(t.Context(), uc.Config(), ucoauth.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	assert.True(t, da.Expiry.IsZero())
	assert.Contains(t, logs.String(), strings.TrimPrefix(ucoauth.ErrBadExpiresIn.Error(), "ucoauth: "))
	assert.NotContains(t, logs.String(), "dc-log-1")
}

// DeviceAuth speaks RFC 8628 the way this package's providers do; a
// provider of another dialect has no device flow to offer, so DeviceAuth
// refuses it instead of sending it a form it never asked for.
func TestDeviceAuthRefusesAProviderWithoutADeviceFlow(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"device_code":"dc-prov-1","user_code":"PROV","verification_uri":"https://x.example/d","expires_in":600}`)
	}))
	defer srv.Close()
	cfg := &oauth2.Config{ClientID: "dev-id", ClientSecret: "dev-client-secret",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", DeviceAuthURL: srv.URL + "/device"}}

	_, err := ucoauth.DeviceAuth(t.Context(), cfg, ucoauth.WithProvider(funcProvider{}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "device")
	assert.Equal(t, int32(0), calls.Load(), "nothing was sent")

	da, err := ucoauth.DeviceAuth(t.Context(), cfg, ucoauth.WithProvider(ucoauth.RFC6749("")))
	require.NoError(t, err, "a provider of this package has the device flow")
	assert.Equal(t, "dc-prov-1", da.DeviceCode)
}

// DeviceAccessToken takes the options of Exchange, WithAuthCodeOptions
// included: its extra form fields go with every poll.
func TestDeviceAccessTokenSendsTheAuthCodeOptions(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		got.Store(r.PostForm)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"dat-access-1","token_type":"bearer","expires_in":3600,"refresh_token":"dat-refresh-1"}`)
	}))
	defer srv.Close()
	cfg := &oauth2.Config{ClientID: "dat-id", ClientSecret: "dat-client-secret",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	da := &oauth2.DeviceAuthResponse{DeviceCode: "dat-device-code-1", Interval: 1}
	tok, err := ucoauth.DeviceAccessToken(t.Context(), cfg, da,
		ucoauth.WithAuthCodeOptions(oauth2.SetAuthURLParam("resource", "https://api.example/")))
	require.NoError(t, err)
	assert.Equal(t, "dat-access-1", tok.AccessToken)
	form, ok := got.Load().(url.Values)
	require.True(t, ok, "the server was asked")
	assert.Equal(t, "https://api.example/", form.Get("resource"))
	assert.Equal(t, "dat-device-code-1", form.Get("device_code"))
	assert.Equal(t, "urn:ietf:params:oauth:grant-type:device_code", form.Get("grant_type"))
}

package ucoauth_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

func TestDeviceAuthParsesTolerantly(t *testing.T) {
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	uc.FailNext(1, ucoauthtest.Failure{Status: 200, Path: "/oauth/device/authorize",
		Body: `{"device_code":"dc-12345","user_code":"WXYZ","verification_uri":"https://x.example/d","expires_in":"600","interval":"99999999999"}`})
	before := time.Now()
	da, err := ucoauth.DeviceAuth(t.Context(), uc.Config(ucoauth.ScopeOrderRead), ucoauth.WithSimpleKey("sk-1"))
	require.NoError(t, err)
	assert.Equal(t, "dc-12345", da.DeviceCode)
	assert.Equal(t, "WXYZ", da.UserCode)
	assert.Equal(t, int64(ucoauth.MaxRetryAfter/time.Second), da.Interval, "a huge interval saturates")
	assert.WithinDuration(t, before.Add(10*time.Minute), da.Expiry, time.Minute)
	assert.Equal(t, "sk-1", uc.Stats().LastSimpleKey)

	uc.FailNext(1, ucoauthtest.Failure{Status: 200, Path: "/oauth/device/authorize", Body: `{"user_code":"WXYZ"}`})
	_, err = ucoauth.DeviceAuth(t.Context(), uc.Config())
	assert.ErrorContains(t, err, "no device_code")
}

// DeviceAccessToken, like Exchange, returns a token or an error, never both:
// an anomaly it survives goes to WithLogger's logger.
func TestDeviceAccessTokenNeverReturnsTokenAndError(t *testing.T) {
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	uc.SetExpiresIn(`"abc"`)
	cfg := uc.Config()
	var logs strings.Builder
	ctx := t.Context()
	logTo := ucoauth.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	da, err := ucoauth.DeviceAuth(ctx, cfg)
	require.NoError(t, err)
	da.Interval = 1
	tok, err := ucoauth.DeviceAccessToken(ctx, cfg, da, logTo)
	require.NoError(t, err)
	require.NotNil(t, tok)
	assert.NotEmpty(t, tok.RefreshToken)
	assert.WithinDuration(t, time.Now().Add(ucoauth.FallbackLifetime), tok.Expiry, time.Minute)
	assert.Contains(t, logs.String(), strings.TrimPrefix(ucoauth.ErrBadExpiresIn.Error(), "ucoauth: "))
	assert.NotContains(t, logs.String(), tok.RefreshToken)
	assert.NotContains(t, logs.String(), tok.AccessToken)
}

// The device authorization endpoint authenticates the client as the token
// endpoint does (RFC 8628 section 3.2): a 401 with no code there is the
// application's credentials refused too.
func TestDeviceAuthRefusedClientIsInvalidClient(t *testing.T) {
	for _, body := range []string{``, `{"error":"invalid_client"}`, `{"error":"unauthorized_client"}`} {
		t.Run(body, func(t *testing.T) {
			uc := ucoauthtest.NewServer()
			defer uc.Close()
			uc.FailNext(1, ucoauthtest.Failure{Status: 401, Path: "/oauth/device/authorize", Body: body})
			_, err := ucoauth.DeviceAuth(t.Context(), uc.Config())
			require.Error(t, err)
			assert.ErrorIs(t, err, ucoauth.ErrInvalidClient)
			assert.NotErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
		})
	}
}

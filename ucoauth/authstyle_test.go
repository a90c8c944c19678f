package ucoauth_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

func TestAuthStyleInHeaderOnTheWire(t *testing.T) {
	rs := newRaw(t, 200, okBody)
	cfg := rs.config("s e+c/r=t&%")
	cfg.ClientID = "cli ent+1"
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	_, err := ucoauth.Exchange(t.Context(), cfg, "code-1")
	require.NoError(t, err)
	form, hdr := rs.last()
	// RFC 6749 section 2.3.1: id and secret are form-encoded, then Basic.
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape("cli ent+1")+":"+url.QueryEscape("s e+c/r=t&%")))
	assert.Equal(t, want, hdr.Get("Authorization"))
	assert.NotContains(t, form, "client_secret")
	assert.NotContains(t, form, "client_id")
	assert.Equal(t, "code-1", form.Get("code"))

	rs.body = `{"successful": true}`
	require.NoError(t, ucoauth.Revoke(t.Context(), cfg, "at-1"))
	form, hdr = rs.last()
	assert.Equal(t, want, hdr.Get("Authorization"), "revoke authenticates the same way")
	assert.Equal(t, url.Values{"token": {"at-1"}}, form)
}

// Each style against a fake that accepts only one: the whole life cycle
// (exchange, refresh, revoke, device flow) works when they agree.
func TestAuthStyleHonoured(t *testing.T) {
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader} {
		t.Run(map[oauth2.AuthStyle]string{1: "InParams", 2: "InHeader"}[style], func(t *testing.T) {
			uc := ucoauthtest.NewServer()
			defer uc.Close()
			uc.ClientSecret = "sec ret+/="
			uc.SetClientAuth(style)
			cfg := uc.Config()
			cfg.Endpoint.AuthStyle = style
			ctx := t.Context()

			code, err := uc.Authorize(ctx, cfg, "s", "")
			require.NoError(t, err)
			tok, err := ucoauth.Exchange(ctx, cfg, code)
			require.NoError(t, err)

			store := tokenstore.NewMemory()
			tok.Expiry = time.Now().Add(-time.Minute)
			require.NoError(t, store.Save(ctx, "m", tok))
			src := ucoauth.NewTokenSource(cfg, store, "m")
			fresh, err := src.Token()
			require.NoError(t, err)
			assert.NotEqual(t, tok.AccessToken, fresh.AccessToken, "refreshed")
			require.NoError(t, src.Revoke(ctx))

			da, err := ucoauth.DeviceAuth(ctx, cfg)
			require.NoError(t, err)
			da.Interval = 1
			dtok, err := ucoauth.DeviceAccessToken(ctx, cfg, da)
			require.NoError(t, err)
			assert.NotEmpty(t, dtok.AccessToken)

			// The other style is refused as a bad client.
			other := uc.Config()
			other.Endpoint.AuthStyle = 3 - style
			code, err = uc.Authorize(ctx, other, "s", "")
			require.NoError(t, err)
			_, err = ucoauth.Exchange(ctx, other, code)
			assert.ErrorIs(t, err, ucoauth.ErrInvalidClient)
		})
	}
}

func TestAuthStyleAutoDetect(t *testing.T) {
	for _, server := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader} {
		t.Run(map[oauth2.AuthStyle]string{1: "server wants params", 2: "server wants header"}[server], func(t *testing.T) {
			uc := ucoauthtest.NewServer()
			defer uc.Close()
			uc.SetClientAuth(server)
			cfg := uc.Config()
			cfg.Endpoint.AuthStyle = oauth2.AuthStyleAutoDetect
			ctx := t.Context()

			store := tokenstore.NewMemory()
			tok := uc.Issue("M")
			tok.Expiry = time.Now().Add(-time.Minute)
			require.NoError(t, store.Save(ctx, "m", tok))
			src := ucoauth.NewTokenSource(cfg, store, "m", ucoauth.WithEarlyRefresh(0))
			_, err := src.Token()
			require.NoError(t, err)
			first := 1
			if server == oauth2.AuthStyleInParams {
				first = 2 // Basic first, refused, then the form: the refresh token went twice
			}
			assert.Equal(t, first, uc.Stats().Refreshes())

			// The style that worked is remembered for this URL and client.
			code, err := uc.Authorize(ctx, cfg, "s", "")
			require.NoError(t, err)
			_, err = ucoauth.Exchange(ctx, cfg, code)
			require.NoError(t, err)
			assert.Equal(t, 1, uc.Stats().Token["authorization_code"], "no second probe")
		})
	}
}

// Under AutoDetect, the request is sent a second time (in the form) only
// when the Basic attempt was refused for client authentication: a 401, or a
// 400 with invalid_client, unauthorized_client, invalid_request or no
// readable code. An answer about the grant itself (invalid_grant,
// invalid_scope...) says Basic got through: re-sending would only post the
// refresh token or code twice.
func TestAuthStyleAutoDetectResendsOnlyOnAuthRefusal(t *testing.T) {
	cases := []struct {
		status int
		body   string
		sends  int
	}{
		{400, `{"error":"invalid_grant"}`, 1},
		{400, `{"error":"invalid_scope"}`, 1},
		{400, `{"error":"unsupported_grant_type"}`, 1},
		{400, `{"error":{"error_code":"invalid_grant","developer_message":"dead"}}`, 1},
		{400, `{"error":"invalid_client"}`, 2},
		{400, `{"error":"unauthorized_client"}`, 2},
		{400, `{"error":"invalid_request"}`, 2},
		{400, `bad request`, 2},
		{400, ``, 2},
		{401, `{"error":"invalid_grant"}`, 2},
		{401, ``, 2},
		{500, `{"error":"server_error"}`, 1},
	}
	for _, tc := range cases {
		t.Run(http.StatusText(tc.status)+" "+tc.body, func(t *testing.T) {
			rs := newRaw(t, tc.status, tc.body)
			cfg := rs.config("secret-1")
			cfg.Endpoint.AuthStyle = oauth2.AuthStyleAutoDetect
			for call := 1; call <= 2; call++ {
				_, err := ucoauth.Exchange(t.Context(), cfg, "code-1")
				require.Error(t, err)
				rs.mu.Lock()
				n := len(rs.forms)
				rs.mu.Unlock()
				assert.Equal(t, call*tc.sends, n, "requests after call %d", call)
			}
			_, hdr := rs.last()
			if tc.sends == 1 {
				assert.NotEmpty(t, hdr.Get("Authorization"), "only the Basic attempt went")
			} else {
				assert.Empty(t, hdr.Get("Authorization"), "the retry went in the form")
			}
		})
	}
}

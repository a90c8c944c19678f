package squaretest

import (
	"time"

	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// Token is a Square token as the engine saves it, for a store's tests (it
// fits storetest.Harness.Token): access token access, refresh token
// "rt-" + access, expiry expiry, a 30-day granted lifetime, Square's
// scopes and the extras square.Provider keeps (merchant ID "ML" + the
// first 24 bytes of access, short_lived, a PKCE refresh token's expiry 90
// days after expiry), as strings.
func Token(access string, expiry time.Time) *oauth2.Token {
	tok := (&oauth2.Token{
		AccessToken: access, TokenType: "bearer", RefreshToken: "rt-" + access,
		Expiry: expiry.Round(0), ExpiresIn: int64(square.AccessTokenLifetime / time.Second),
	}).WithExtra(map[string]any{"scope": "MERCHANT_PROFILE_READ PAYMENTS_READ"})
	return ucoauth.WithProviderExtras(tok, map[string]string{
		square.ExtraMerchantID:            "ML" + access[:min(len(access), 24)],
		square.ExtraShortLived:            "false",
		square.ExtraRefreshTokenExpiresAt: expiry.Add(square.PKCERefreshTokenLifetime).UTC().Format(time.RFC3339),
	})
}

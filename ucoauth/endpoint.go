package ucoauth

import (
	"strings"

	"github.com/ucoauth/go-ucoauth/internal/ultracart"

	"golang.org/x/oauth2"
)

// BaseURL is the root of UltraCart's REST API; the OAuth endpoints live under it.
const BaseURL = "https://secure.ultracart.com/rest/v2"

// UltraCart's names, shared with ucoauthtest through internal/ultracart.
const (
	apiVersion                = ultracart.APIVersion
	headerAPIVersion          = ultracart.HeaderAPIVersion
	headerSimpleKey           = ultracart.HeaderSimpleKey
	headerRESTError           = ultracart.HeaderRESTError
	headerRESTErrorMerchantID = ultracart.HeaderRESTErrorMerchantID
	grantTypeDeviceCode       = ultracart.GrantTypeDeviceCode
)

// Endpoint is UltraCart's OAuth 2 endpoint.
//
// Its AuthStyle is [oauth2.AuthStyleInParams]: UltraCart reads client_id and
// client_secret from the form (the secret is left out when empty). The token,
// revoke and device calls honour whatever a config's Endpoint.AuthStyle says:
// [oauth2.AuthStyleInHeader] sends HTTP Basic, with id and secret
// form-encoded first (RFC 6749 section 2.3.1). [oauth2.AuthStyleAutoDetect]
// tries Basic first and, when that is refused for client authentication (a
// 401, or a 400 not about the grant itself), re-sends in the form,
// remembering per endpoint URL and client ID what worked, as x/oauth2 does:
// that first call can post a single-use refresh token twice, so set the
// style explicitly.
var Endpoint = EndpointAt(BaseURL)

// EndpointAt returns UltraCart's endpoint paths under another base URL, such
// as a [ucoauthtest] server or a proxy. baseURL is the equivalent of [BaseURL]
// (it ends in /rest/v2 for UltraCart itself); a trailing slash is ignored.
//
// [ucoauthtest]: https://pkg.go.dev/github.com/ucoauth/go-ucoauth/ucoauthtest
func EndpointAt(baseURL string) oauth2.Endpoint {
	b := strings.TrimRight(baseURL, "/")
	return oauth2.Endpoint{
		AuthURL:       b + "/oauth/authorize",
		TokenURL:      b + "/oauth/token",
		DeviceAuthURL: b + "/oauth/device/authorize",
		AuthStyle:     oauth2.AuthStyleInParams,
	}
}

// revokeURL derives the revoke endpoint from the token endpoint, because
// oauth2.Endpoint has no field for it: ".../oauth/token" -> ".../oauth/revoke".
func revokeURL(e oauth2.Endpoint) string {
	u := e.TokenURL
	if i := strings.LastIndexByte(u, '/'); i >= 0 {
		return u[:i+1] + "revoke"
	}
	return u + "/revoke"
}

// NewConfig returns an oauth2.Config for an UltraCart application.
//
// clientSecret may be empty: UltraCart's own SDKs send only the client ID.
// redirectURL and scopes may be empty too when the application's profile in
// UltraCart already sets them; UltraCart rejects them on the authorize link
// otherwise.
func NewConfig(clientID, clientSecret, redirectURL string, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		RedirectURL:  redirectURL,
		Scopes:       scopes,
		Endpoint:     Endpoint,
	}
}

package square

import (
	"strings"

	"golang.org/x/oauth2"
)

// Square's OAuth hosts.
const (
	// ProductionURL is Square's production API and OAuth host.
	ProductionURL = "https://connect.squareup.com"
	// SandboxURL is Square's sandbox host, for test accounts.
	SandboxURL = "https://connect.squareupsandbox.com"
)

// HeaderVersion is the header that chooses the Square API version of a
// request.
const HeaderVersion = "Square-Version"

// DefaultVersion is the Square-Version this package sends when a [Client]
// does not choose one: 2026-09-16, the newest version Square's SDKs
// supported when it was written. Set [Client].Version to pin another date;
// Square keeps old versions working, so pinning is safe.
const DefaultVersion = "2026-09-16"

// Endpoint is Square's production OAuth endpoint.
//
// Its AuthStyle is [oauth2.AuthStyleInParams]: Square reads client_id and
// client_secret from the JSON body of the token request (see
// [TokenRequest]), never from HTTP Basic.
var Endpoint = EndpointAt(ProductionURL)

// SandboxEndpoint is Square's sandbox OAuth endpoint.
var SandboxEndpoint = EndpointAt(SandboxURL)

// EndpointAt returns Square's endpoint paths under another root URL, such as
// a squaretest server or a proxy. A trailing slash is ignored.
func EndpointAt(rootURL string) oauth2.Endpoint {
	b := strings.TrimRight(rootURL, "/")
	return oauth2.Endpoint{
		AuthURL:   b + "/oauth2/authorize",
		TokenURL:  b + "/oauth2/token",
		AuthStyle: oauth2.AuthStyleInParams,
	}
}

// RevokeURL is the revoke endpoint next to e's token endpoint, because
// oauth2.Endpoint has no field for it: ".../oauth2/token" -> ".../oauth2/revoke".
func RevokeURL(e oauth2.Endpoint) string { return sibling(e.TokenURL, "revoke") }

// StatusURL is the token status endpoint under e's token endpoint:
// ".../oauth2/token" -> ".../oauth2/token/status".
func StatusURL(e oauth2.Endpoint) string { return strings.TrimRight(e.TokenURL, "/") + "/status" }

func sibling(tokenURL, name string) string {
	u := strings.TrimRight(tokenURL, "/")
	if i := strings.LastIndexByte(u, '/'); i >= 0 {
		return u[:i+1] + name
	}
	return u + "/" + name
}

// SessionFalse makes Square's authorize page ask the merchant to log in even
// when a Square session is open in the browser (session=false), so that the
// right account connects. Pass it to [oauth2.Config.AuthCodeURL].
var SessionFalse = oauth2.SetAuthURLParam("session", "false")

// NewConfig returns an oauth2.Config for a Square application on
// [Endpoint]; set its Endpoint to [SandboxEndpoint] for the sandbox.
//
// scopes are Square permissions such as "MERCHANT_PROFILE_READ"; x/oauth2
// joins them with spaces on the authorize URL, as Square expects.
// clientSecret is empty for a public client using PKCE
// ([oauth2.GenerateVerifier], [oauth2.S256ChallengeOption]).
func NewConfig(clientID, clientSecret, redirectURL string, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		RedirectURL:  redirectURL,
		Scopes:       scopes,
		Endpoint:     Endpoint,
	}
}

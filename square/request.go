package square

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// Grant types Square's token endpoint accepts.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

// redacted stands for a secret in every printed form.
const redacted = "[REDACTED]"

// TokenRequest is the JSON body of POST /oauth2/token (ObtainToken).
//
// It holds secrets, so it never prints them: String, GoString, every fmt
// verb, slog and json.Marshal show only which fields are set. [TokenRequest.Body]
// is the one way to the wire form.
type TokenRequest struct {
	ClientID string
	// ClientSecret is left out of the body when empty: under PKCE Square
	// wants the code verifier instead.
	ClientSecret string
	// GrantType is [GrantAuthorizationCode] or [GrantRefreshToken].
	GrantType string
	// Code is the authorization code, for GrantAuthorizationCode.
	Code string
	// RefreshToken is the refresh token, for GrantRefreshToken.
	RefreshToken string
	// RedirectURI is the redirect URL registered for the application; sent
	// with a code when set.
	RedirectURI string
	// CodeVerifier is the PKCE verifier, for a code obtained with a challenge.
	CodeVerifier string
	// Scopes, when set, narrows the new access token's permissions.
	Scopes []string
	// ShortLived asks for an access token that lives 24 hours.
	ShortLived bool
}

// wireRequest is TokenRequest as Square spells it.
type wireRequest struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret,omitempty"`
	GrantType    string   `json:"grant_type"`
	Code         string   `json:"code,omitempty"`
	RefreshToken string   `json:"refresh_token,omitempty"`
	RedirectURI  string   `json:"redirect_uri,omitempty"`
	CodeVerifier string   `json:"code_verifier,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	ShortLived   bool     `json:"short_lived,omitempty"`
}

// Body encodes the request as Square's JSON. It fails, naming no value, when
// the grant type is unknown or lacks its code or refresh token.
func (r TokenRequest) Body() ([]byte, error) {
	switch {
	case r.ClientID == "":
		return nil, fmt.Errorf("square: token request without client_id")
	case r.GrantType == GrantAuthorizationCode && r.Code == "":
		return nil, fmt.Errorf("square: authorization_code request without code")
	case r.GrantType == GrantRefreshToken && r.RefreshToken == "":
		return nil, fmt.Errorf("square: refresh_token request without refresh_token")
	case r.GrantType != GrantAuthorizationCode && r.GrantType != GrantRefreshToken:
		return nil, fmt.Errorf("square: unsupported grant_type %q", word(r.GrantType))
	}
	w := wireRequest{
		ClientID: r.ClientID, ClientSecret: r.ClientSecret, GrantType: r.GrantType,
		Scopes: r.Scopes, ShortLived: r.ShortLived,
	}
	// Each grant carries only its own credential, so a stale field set by
	// the caller never travels.
	if r.GrantType == GrantAuthorizationCode {
		w.Code, w.RedirectURI, w.CodeVerifier = r.Code, r.RedirectURI, r.CodeVerifier
	} else {
		w.RefreshToken = r.RefreshToken
	}
	return json.Marshal(w)
}

// secrets lists the values that must never be printed.
func (r TokenRequest) secrets() []string {
	return []string{r.ClientSecret, r.Code, r.RefreshToken, r.CodeVerifier}
}

func mark(v string) string {
	if v == "" {
		return ""
	}
	return redacted
}

// String shows the request with its secrets redacted.
func (r TokenRequest) String() string {
	return fmt.Sprintf("square.TokenRequest{ClientID:%q GrantType:%q ClientSecret:%q Code:%q RefreshToken:%q CodeVerifier:%q RedirectURI:%q Scopes:%q ShortLived:%t}",
		r.ClientID, r.GrantType, mark(r.ClientSecret), mark(r.Code), mark(r.RefreshToken),
		mark(r.CodeVerifier), r.RedirectURI, r.Scopes, r.ShortLived)
}

// GoString is String, so %#v redacts too.
func (r TokenRequest) GoString() string { return r.String() }

// Format makes every fmt verb print String.
func (r TokenRequest) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(r.String())) }

// LogValue redacts the secrets in slog output.
func (r TokenRequest) LogValue() slog.Value { return slog.StringValue(r.String()) }

// MarshalJSON redacts the secrets; use [TokenRequest.Body] for the wire.
func (r TokenRequest) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireRequest{
		ClientID: r.ClientID, ClientSecret: mark(r.ClientSecret), GrantType: r.GrantType,
		Code: mark(r.Code), RefreshToken: mark(r.RefreshToken), RedirectURI: r.RedirectURI,
		CodeVerifier: mark(r.CodeVerifier), Scopes: r.Scopes, ShortLived: r.ShortLived,
	})
}

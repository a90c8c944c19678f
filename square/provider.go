package square

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// Provider is Square's [ucoauth.Provider]: pass it to the engine with
// ucoauth.WithProvider(square.Provider{}) and a Config from [NewConfig].
// The zero value sends [DefaultVersion].
//
// It encodes token requests as Square's JSON ([TokenRequest]), reads
// expires_at ([DecodeAnswer]), maps Square's errors onto the engine's
// classes (see [Class]), revokes with "Authorization: Client <secret>" by
// access token or, given "merchant_id", by merchant, and adds
// Square-Version to API calls.
type Provider struct {
	// Version is the Square-Version header of API calls and OAuth requests;
	// "" is DefaultVersion.
	Version string
	// ShortLived asks for 24-hour access tokens.
	ShortLived bool
	// OnlyAccessToken makes revoke keep the refresh token
	// (revoke_only_access_token).
	OnlyAccessToken bool
}

var _ ucoauth.Provider = Provider{}

func (p Provider) version() string {
	if p.Version != "" {
		return p.Version
	}
	return DefaultVersion
}

// TokenRequest encodes an ObtainToken request from the engine's RFC 6749
// parameters. The client secret goes in the body when cfg has one; a
// public (PKCE) client has none.
func (p Provider) TokenRequest(cfg *oauth2.Config, params url.Values) (*ucoauth.Request, error) {
	r := TokenRequest{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, GrantType: params.Get("grant_type"),
		Code: params.Get("code"), RefreshToken: params.Get("refresh_token"),
		RedirectURI: params.Get("redirect_uri"), CodeVerifier: params.Get("code_verifier"),
		Scopes: strings.Fields(params.Get("scope")), ShortLived: p.ShortLived,
	}
	if r.GrantType == GrantAuthorizationCode && r.RedirectURI == "" {
		r.RedirectURI = cfg.RedirectURL
	}
	b, err := r.Body()
	if err != nil {
		return nil, err
	}
	return &ucoauth.Request{URL: cfg.Endpoint.TokenURL, JSON: b, Header: p.header()}, nil
}

func (p Provider) header() http.Header {
	return http.Header{HeaderVersion: {p.version()}, "Accept": {"application/json"}}
}

// ParseToken reads ObtainToken's answer. A token whose expires_at was
// unusable comes with [ErrBadExpiresAt]: it is kept, expiring
// [ShortLivedLifetime] after the request was sent.
func (p Provider) ParseToken(a *ucoauth.Answer) (*oauth2.Token, error) {
	if a.StatusCode/100 != 2 {
		return nil, engineError("token", decodeErrorAt("token", a.StatusCode, a.Header, a.Body, a.Received))
	}
	ans, err := DecodeAnswer(a.Body, a.Sent)
	if err != nil {
		return nil, &ucoauth.Error{Op: "token", StatusCode: a.StatusCode, Err: err}
	}
	return ans.Token, ans.Anomaly
}

// RevokeRequest revokes by the access token in "token" or by "merchant_id".
// A refresh token cannot be named (Square revokes by access token or
// merchant, and either kills the refresh token too): that request is
// refused with unsupported_token_type, which the engine takes as done.
func (p Provider) RevokeRequest(cfg *oauth2.Config, params url.Values) (*ucoauth.Request, error) {
	if params.Get("token_type_hint") == "refresh_token" {
		return nil, &ucoauth.Error{Op: "revoke", Code: "unsupported_token_type"}
	}
	body := struct {
		ClientID        string `json:"client_id"`
		AccessToken     string `json:"access_token,omitempty"`
		MerchantID      string `json:"merchant_id,omitempty"`
		RevokeOnlyToken bool   `json:"revoke_only_access_token,omitempty"`
	}{ClientID: cfg.ClientID, MerchantID: params.Get("merchant_id"), RevokeOnlyToken: p.OnlyAccessToken}
	if body.MerchantID == "" {
		body.AccessToken = params.Get("token")
	}
	if body.AccessToken == "" && body.MerchantID == "" {
		return nil, ErrRevokeTarget
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	h := p.header()
	h.Set("Authorization", "Client "+cfg.ClientSecret)
	return &ucoauth.Request{URL: RevokeURL(cfg.Endpoint), JSON: b, Header: h}, nil
}

// ParseRevoke reads RevokeToken's answer: {"success":true} is done; a 404
// (the token is unknown) is invalid_token, nothing left to revoke.
func (p Provider) ParseRevoke(a *ucoauth.Answer) error {
	if a.StatusCode/100 == 2 {
		var ok struct {
			Success bool `json:"success"`
		}
		if json.Unmarshal(a.Body, &ok) != nil || !ok.Success {
			return &ucoauth.Error{Op: "revoke", StatusCode: a.StatusCode, Description: "answer without success:true"}
		}
		return nil
	}
	e := engineError("revoke", decodeErrorAt("revoke", a.StatusCode, a.Header, a.Body, a.Received))
	if a.StatusCode == http.StatusNotFound {
		e.Code = "invalid_token"
	}
	return e
}

// SetAPIHeader adds Square-Version unless the request chose one.
func (p Provider) SetAPIHeader(h http.Header) {
	if h.Get(HeaderVersion) == "" {
		h.Set(HeaderVersion, p.version())
	}
}

// engineError states a Square failure in the engine's terms: invalid_grant
// for Reconnect, invalid_client for Misconfigured, and a temporary status
// (the real one when it already is) for Temporary.
func engineError(op string, se *Error) *ucoauth.Error {
	e := &ucoauth.Error{Op: op, StatusCode: se.StatusCode, RetryAfter: se.RetryAfter}
	if len(se.Errors) > 0 {
		e.ErrorCode, e.Description, e.Message = se.Errors[0].Code, se.Errors[0].Detail, se.Errors[0].Category
	}
	switch se.Class {
	case Reconnect:
		e.Code = "invalid_grant"
	case Misconfigured:
		e.Code = "invalid_client"
	case Temporary:
		if s := se.StatusCode; s < 500 && s != http.StatusTooManyRequests && s != http.StatusRequestTimeout {
			e.StatusCode = http.StatusServiceUnavailable
			if se.HasCode("RATE_LIMITED") {
				e.StatusCode = http.StatusTooManyRequests
			}
		}
	}
	return e
}

// Policy is Square's [ucoauth.RefreshPolicy]: access tokens trusted for
// their 30 days, refreshed once [RefreshEvery] has passed (Square's advice,
// so that a failing refresh is noticed with weeks to spare), reported
// Overdue by the engine's Status after [StaleAfter], and the merchant's ID,
// short_lived and a PKCE refresh token's expiry kept with the token through
// Exchange, every refresh and the stores.
func (Provider) Policy() ucoauth.RefreshPolicy {
	return ucoauth.RefreshPolicy{
		MaxLifetime:     AccessTokenLifetime,
		RefreshAfterAge: RefreshEvery,
		StaleAfter:      StaleAfter,
		Extras:          []string{ExtraMerchantID, ExtraShortLived, ExtraRefreshTokenExpiresAt},
	}
}

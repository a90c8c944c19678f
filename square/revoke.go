package square

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// RevokeRequest is the body of POST /oauth2/revoke. Exactly one of
// AccessToken and MerchantID is set. Square revokes every token of that
// merchant for the application, whichever is given.
type RevokeRequest struct {
	// AccessToken names the merchant by one of its tokens.
	AccessToken string
	// MerchantID names the merchant without holding a token.
	MerchantID string
	// OnlyAccessToken revokes the access tokens and keeps the refresh
	// token (revoke_only_access_token).
	OnlyAccessToken bool
}

// ErrRevokeTarget means a RevokeRequest set neither or both of AccessToken
// and MerchantID.
var ErrRevokeTarget = errors.New("square: revoke needs exactly one of access token and merchant ID")

// Revoke revokes a merchant's tokens. It authenticates with
// "Authorization: Client <secret>", so the Config needs the application
// secret even under PKCE.
func (c *Client) Revoke(ctx context.Context, r RevokeRequest) error {
	if (r.AccessToken == "") == (r.MerchantID == "") {
		return ErrRevokeTarget
	}
	body, err := json.Marshal(struct {
		ClientID        string `json:"client_id"`
		AccessToken     string `json:"access_token,omitempty"`
		MerchantID      string `json:"merchant_id,omitempty"`
		RevokeOnlyToken bool   `json:"revoke_only_access_token,omitempty"`
	}{c.Config.ClientID, r.AccessToken, r.MerchantID, r.OnlyAccessToken})
	if err != nil {
		return err
	}
	auth := "Client " + c.Config.ClientSecret
	secrets := []string{c.Config.ClientSecret, auth, r.AccessToken}
	sc := newScrubber(secrets...)
	status, h, ans, err := c.post(ctx, "revoke", RevokeURL(c.Config.Endpoint), body, &auth, sc)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		return DecodeError("revoke", status, h, ans, secrets...)
	}
	var ok struct {
		Success bool `json:"success"`
	}
	if json.Unmarshal(ans, &ok) != nil || !ok.Success {
		return &Error{Op: "revoke", StatusCode: status, Class: Temporary,
			Err: errors.New("answer without success:true"), scrub: sc}
	}
	return nil
}

// RevokeMerchant revokes every token of merchantID for the application,
// without holding any of them: for a merchant whose tokens are lost.
func (c *Client) RevokeMerchant(ctx context.Context, merchantID string) error {
	return c.Revoke(ctx, RevokeRequest{MerchantID: merchantID})
}

// TokenStatus is what POST /oauth2/token/status says of an access token.
type TokenStatus struct {
	Scopes     []string
	ExpiresAt  time.Time // zero when the token never expires
	ClientID   string
	MerchantID string
}

// Status asks Square about accessToken without refreshing: a health check
// that answers "is this merchant still connected?". A revoked or expired
// token is an *Error of class [Reconnect].
func (c *Client) Status(ctx context.Context, accessToken string) (*TokenStatus, error) {
	auth := "Bearer " + accessToken
	// The application's secret is scrubbed too: a server may echo any
	// secret it knows, not only the ones this call sent.
	secrets := []string{accessToken, c.Config.ClientSecret}
	sc := newScrubber(secrets...)
	status, h, ans, err := c.post(ctx, "status", StatusURL(c.Config.Endpoint), []byte("{}"), &auth, sc)
	if err != nil {
		return nil, err
	}
	if status/100 != 2 {
		return nil, DecodeError("status", status, h, ans, secrets...)
	}
	var w struct {
		Scopes     []string `json:"scopes"`
		ExpiresAt  string   `json:"expires_at"`
		ClientID   string   `json:"client_id"`
		MerchantID string   `json:"merchant_id"`
	}
	if err := json.Unmarshal(ans, &w); err != nil {
		return nil, &Error{Op: "status", StatusCode: status, Class: Temporary,
			Err: errors.New("answer is not the token status object"), scrub: sc}
	}
	st := &TokenStatus{Scopes: w.Scopes, ClientID: w.ClientID, MerchantID: w.MerchantID}
	if w.ExpiresAt != "" {
		if st.ExpiresAt, err = ParseExpiresAt(w.ExpiresAt); err != nil {
			return nil, &Error{Op: "status", StatusCode: status, Class: Temporary, Err: err, scrub: sc}
		}
	}
	return st, nil
}

package ucoauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"
)

// Exchange trades the authorization code from UltraCart's redirect for a
// token, with UltraCart's tolerant parsing. opts may carry extra form fields,
// such as oauth2.VerifierOption for PKCE.
//
// If UltraCart's answer is usable but its expires_in is not a number,
// Exchange returns the token (expiring after [FallbackLifetime]) together
// with an error matching [ErrBadExpiresIn]. Check for a non-nil token before
// discarding the result; the refresh token in it is valid.
func Exchange(ctx context.Context, cfg *oauth2.Config, code string, opts ...oauth2.AuthCodeOption) (*oauth2.Token, error) {
	form := optionValues(opts)
	form.Set("grant_type", "authorization_code")
	form.Set("code", code)
	if cfg.RedirectURL != "" {
		form.Set("redirect_uri", cfg.RedirectURL)
	}
	return retrieveToken(ctx, cfg, form, "", nil, code)
}

// optionValues extracts the form fields that opts set. oauth2.AuthCodeOption
// can only be applied by x/oauth2 itself, so let AuthCodeURL apply them to an
// empty config and read them back from the query.
func optionValues(opts []oauth2.AuthCodeOption) url.Values {
	v := url.Values{}
	if len(opts) == 0 {
		return v
	}
	u, err := url.Parse((&oauth2.Config{}).AuthCodeURL("", opts...))
	if err != nil {
		return v
	}
	v = u.Query()
	v.Del("response_type")
	v.Del("client_id")
	return v
}

// Revoke revokes an access token at UltraCart. UltraCart then revokes the
// application's whole grant for that merchant: the merchant has to connect
// again. An answer of {"successful": false} is an error.
func Revoke(ctx context.Context, cfg *oauth2.Config, accessToken string) error {
	return revoke(ctx, cfg, accessToken, "")
}

func revoke(ctx context.Context, cfg *oauth2.Config, accessToken, simpleKey string) error {
	form := url.Values{"token": {accessToken}}
	r, err := postForm(ctx, opRevoke, cfg, revokeURL(cfg.Endpoint), form, simpleKey)
	if err != nil {
		return err
	}
	w, err := decode(opRevoke, r, accessToken, cfg.ClientSecret)
	if err != nil {
		return err
	}
	if w.Successful == nil || !*w.Successful {
		return &Error{Op: opRevoke, StatusCode: r.status, Message: scrub(w.Message.s, []string{accessToken}),
			Err: errors.New(`UltraCart did not answer {"successful": true}`)}
	}
	return nil
}

// tokenGone reports whether a revoke failed because the token was already
// dead: UltraCart no longer knows it, so there is nothing left to revoke.
func tokenGone(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.StatusCode {
	case http.StatusUnauthorized, http.StatusNotFound, http.StatusGone:
		return true
	}
	return e.Code == "invalid_token" || e.Code == "invalid_grant"
}

// DeviceAccessToken polls UltraCart's token endpoint for a device
// authorization obtained with cfg.DeviceAuth, honouring the interval and
// slow_down, until the merchant approves, denies, the code expires or ctx
// ends. It parses the answer with the same tolerance as [Exchange], which
// x/oauth2's own DeviceAccessToken lacks.
func DeviceAccessToken(ctx context.Context, cfg *oauth2.Config, da *oauth2.DeviceAuthResponse) (*oauth2.Token, error) {
	interval := time.Duration(da.Interval) * time.Second
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if !da.Expiry.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, da.Expiry)
		defer cancel()
	}
	for {
		form := url.Values{"grant_type": {GrantTypeDeviceCode}, "device_code": {da.DeviceCode}}
		tok, err := retrieveToken(ctx, cfg, form, "", nil, da.DeviceCode)
		var e *Error
		switch {
		case err == nil:
			return tok, nil
		case !errors.As(err, &e):
			return tok, err
		case e.Code == "slow_down":
			interval += 5 * time.Second
		case e.Code != "authorization_pending":
			return tok, err
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("ucoauth: waiting for device approval: %w", ctx.Err())
		case <-t.C:
		}
	}
}

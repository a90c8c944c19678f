package ucoauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Exchange trades the authorization code from the redirect for a token,
// with UltraCart's tolerant parsing. [WithProvider], [WithAuthCodeOptions]
// (extra form fields, such as oauth2.VerifierOption for PKCE),
// [WithSimpleKey], [WithHTTPClient], [WithLogger] and [WithClock] apply.
//
// It returns a token or an error, never both. An answer whose expires_in or
// token_type is unusable still gives its token (expiring after
// [FallbackLifetime], typed "bearer"), because the refresh token in it is
// valid; the anomaly is logged to [WithLogger]'s logger (by default
// slog.Default()).
//
// The token carries a new grant ID (see [GrantExtra]): saved, it replaces a
// tombstone that a revoke left, while a refresh of the revoked grant
// cannot.
func Exchange(ctx context.Context, cfg *oauth2.Config, code string, opts ...ExchangeOption) (*oauth2.Token, error) {
	o := callOptions(opts)
	form := optionValues(o.authOpts)
	form.Set("grant_type", "authorization_code")
	form.Set("code", code)
	if cfg.RedirectURL != "" {
		form.Set("redirect_uri", cfg.RedirectURL)
	}
	tok, err := retrieveToken(ctx, cfg, form, o.wire(), code)
	return newGrant(settle(ctx, o.logger, tok, err))
}

// callOptions are the options of a one-off call: like a TokenSource's, but
// anomalies are logged to slog.Default() unless [WithLogger] says otherwise,
// because the call returns no warning with its token.
func callOptions(opts []ExchangeOption) *options {
	o := newOptions()
	o.logger = slog.Default()
	for _, opt := range opts {
		opt.applyExchange(o)
	}
	return o
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

// Revoke revokes an access token. At UltraCart, that revokes the
// application's whole grant for the merchant: the merchant has to connect
// again. [WithProvider], [WithRevokeURL], [WithSimpleKey], [WithHTTPClient],
// [WithClock] and [WithLogger] (the revoke, at Info; by default nothing is
// logged) apply. UltraCart's revoke URL is the token URL's sibling
// ".../oauth/revoke".
//
// UltraCart answers {"successful": true|false}; when the body says so, that
// decides, even if the rest of the body does not parse (as does an "error"
// in it). Any other 2xx answer (RFC 7009's empty 200) is success. Every other
// answer, 404 and 405 included, is an error: nothing was revoked.
func Revoke(ctx context.Context, cfg *oauth2.Config, accessToken string, opts ...RevokeOption) error {
	o := newOptions()
	for _, opt := range opts {
		opt.applyRevoke(o)
	}
	if err := revoke(ctx, cfg, accessToken, o); err != nil {
		return err
	}
	o.logger.Info("ucoauth: revoked", "token", Fingerprint(accessToken))
	return nil
}

// revoke revokes accessToken; secrets are scrubbed from its errors too (the
// refresh token of the same grant, which the server knows and may echo).
func revoke(ctx context.Context, cfg *oauth2.Config, accessToken string, o *options, secrets ...string) error {
	red := newRedactor(append(secrets, accessToken)...)
	return revokeToken(ctx, cfg, url.Values{"token": {accessToken}}, o.wire(), red)
}

// DeviceAuth starts UltraCart's device flow (RFC 8628): it asks for a device
// code and the user code to show the merchant, for [DeviceAccessToken] to
// poll. Unlike x/oauth2's cfg.DeviceAuth, it authenticates the client as
// cfg.Endpoint.AuthStyle says, never follows a redirect, and reads numbers
// sent as strings. [WithAuthCodeOptions] (extra form fields),
// [WithSimpleKey], [WithHTTPClient], [WithClock] and [WithLogger] (an
// unusable expires_in, read as no expiry, is logged) apply; so does
// [WithProvider], which must be one of this package's: another provider's
// dialect has no device flow here, and is refused. The user code and
// the verification links, which are shown to the merchant, come back with
// the client secret and the simple key (in any encoding) scrubbed, should
// the server have echoed them.
func DeviceAuth(ctx context.Context, cfg *oauth2.Config, opts ...ExchangeOption) (*oauth2.DeviceAuthResponse, error) {
	o := callOptions(opts)
	if _, ok := o.wire().prov().(builtin); !ok {
		return nil, &Error{Op: opDeviceReq, Err: errNoDeviceFlow}
	}
	form := optionValues(o.authOpts)
	if len(cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(cfg.Scopes, " "))
	}
	red := newRedactor()
	now := o.now()
	r, err := postForm(ctx, opDeviceReq, cfg, cfg.Endpoint.DeviceAuthURL, form, wireCall{simpleKey: o.simpleKey, client: o.client, red: red})
	if err != nil {
		return nil, err
	}
	w, err := decode(opDeviceReq, r, red, o.now())
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(w.DeviceCode.s) == "" {
		return nil, &Error{Op: opDeviceReq, StatusCode: r.status, Err: errors.New("response has no device_code"), red: red}
	}
	// The user code and links are shown to the merchant, on a terminal or
	// a page: never with the application's own credentials in them.
	creds := newRedactor(cfg.ClientSecret, o.simpleKey)
	if cfg.ClientSecret != "" {
		creds.add(basicCredentials(cfg))
	}
	da := &oauth2.DeviceAuthResponse{
		DeviceCode:              w.DeviceCode.s,
		UserCode:                creds.scrub(w.UserCode.s),
		VerificationURI:         creds.scrub(w.VerificationURI.s),
		VerificationURIComplete: creds.scrub(w.VerificationURIComplete.s),
	}
	if d, ok, warn := parseExpiresIn(w.ExpiresIn); ok {
		da.Expiry = now.Add(d)
	} else if warn != nil {
		o.logger.Warn("ucoauth: device authorization kept without an expiry", "err", red.wrap(warn))
	}
	if n, err := strconv.ParseFloat(strings.TrimSpace(w.Interval.s), 64); err == nil && n > 0 {
		da.Interval = int64(min(n, maxPollInterval.Seconds()))
	}
	return da, nil
}

// errNoDeviceFlow refuses DeviceAuth through a provider of another
// package: the seam has no device authorization request.
var errNoDeviceFlow = errors.New("the provider has no device flow (RFC 8628) that DeviceAuth can use")

// maxPollInterval bounds the wait between device-flow polls, whatever the
// server asks for.
const maxPollInterval = MaxRetryAfter

// DeviceAccessToken polls UltraCart's token endpoint for a device
// authorization obtained with cfg.DeviceAuth, honouring the interval and
// slow_down, until the merchant approves, denies, the code expires or ctx
// ends. It parses the answer with the same tolerance as [Exchange], which
// x/oauth2's own DeviceAccessToken lacks, and like Exchange it returns a
// token or an error, never both. The options of [Exchange] apply;
// [WithAuthCodeOptions]' fields go with every poll.
func DeviceAccessToken(ctx context.Context, cfg *oauth2.Config, da *oauth2.DeviceAuthResponse, opts ...ExchangeOption) (*oauth2.Token, error) {
	o := callOptions(opts)
	interval := 5 * time.Second
	switch {
	case da.Interval > int64(maxPollInterval/time.Second):
		interval = maxPollInterval
	case da.Interval > 0:
		interval = time.Duration(da.Interval) * time.Second
	}
	if !da.Expiry.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, da.Expiry)
		defer cancel()
	}
	for {
		form := optionValues(o.authOpts)
		form.Set("grant_type", grantTypeDeviceCode)
		form.Set("device_code", da.DeviceCode)
		tok, err := retrieveToken(ctx, cfg, form, o.wire(), da.DeviceCode)
		var e *Error
		switch {
		case tok != nil:
			return newGrant(settle(ctx, o.logger, tok, err))
		case !errors.As(err, &e):
			return nil, err
		case e.Code == "slow_down":
			interval = min(interval+5*time.Second, maxPollInterval)
		case e.Code != "authorization_pending":
			return nil, err
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

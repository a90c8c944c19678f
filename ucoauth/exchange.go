package ucoauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Exchange trades the authorization code from UltraCart's redirect for a
// token, with UltraCart's tolerant parsing. opts may carry extra form fields,
// such as oauth2.VerifierOption for PKCE.
//
// It returns a token or an error, never both. An answer whose expires_in or
// token_type is unusable still gives its token (expiring after
// [FallbackLifetime], typed "bearer"), because the refresh token in it is
// valid; the anomaly is logged to the context's logger (see [LoggerContext]).
//
// The token carries a new grant ID (see [GrantExtra]): saved, it replaces a
// tombstone that a revoke left, while a refresh of the revoked grant
// cannot.
func Exchange(ctx context.Context, cfg *oauth2.Config, code string, opts ...oauth2.AuthCodeOption) (*oauth2.Token, error) {
	form := optionValues(opts)
	form.Set("grant_type", "authorization_code")
	form.Set("code", code)
	if cfg.RedirectURL != "" {
		form.Set("redirect_uri", cfg.RedirectURL)
	}
	tok, err := retrieveToken(ctx, cfg, form, "", nil, code)
	return newGrant(settle(ctx, tok, err))
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
// again. [WithRevokeURL], [WithSimpleKey] and [WithHTTPClient] apply. The revoke URL defaults to the token URL's sibling
// ".../oauth/revoke", UltraCart's layout.
//
// UltraCart answers {"successful": true|false}; when the body says so, that
// decides, even if the rest of the body does not parse (as does an "error"
// in it). Any other 2xx answer (RFC 7009's empty 200) is success. Every other
// answer, 404 and 405 included, is an error: nothing was revoked.
func Revoke(ctx context.Context, cfg *oauth2.Config, accessToken string, opts ...EndpointOption) error {
	o := newOptions()
	for _, opt := range opts {
		opt.applyRevoke(o)
	}
	return revoke(ctx, cfg, accessToken, o)
}

// revoke revokes accessToken; secrets are scrubbed from its errors too (the
// refresh token of the same grant, which the server knows and may echo).
func revoke(ctx context.Context, cfg *oauth2.Config, accessToken string, o *options, secrets ...string) error {
	endpoint := o.revokeURL
	if endpoint == "" {
		endpoint = revokeURL(cfg.Endpoint)
	}
	red := newRedactor(append(secrets, accessToken)...)
	form := url.Values{"token": {accessToken}}
	r, err := postForm(ctx, opRevoke, cfg, endpoint, form, wireCall{simpleKey: o.simpleKey, client: o.client, red: red})
	if err != nil {
		return err
	}
	return revokeAnswer(r, red)
}

// revokeAnswer reads a revoke endpoint's answer: nil when it says the token
// was revoked, an *Error scrubbed of red's secrets otherwise.
func revokeAnswer(r *response, red *redactor) error {
	if r.status >= 200 && r.status < 300 {
		if _, perr := parseBody(r.body, newRedactor()); perr != nil {
			if refusal := revokeRefusal(r.body); refusal != "" {
				e := &Error{Op: opRevoke, StatusCode: r.status, red: red,
					Err: fmt.Errorf("the answer does not parse cleanly but %s", refusal)}
				e.scrubFields()
				return e
			}
			return nil // RFC 7009: a 2xx revokes, whatever the body
		}
	}
	w, err := decode(opRevoke, r, red, time.Now())
	if err != nil {
		return err
	}
	if w.Successful.present && w.Successful.s != "true" {
		e := &Error{Op: opRevoke, StatusCode: r.status, Message: w.Message.s, red: red,
			Err: errors.New(`UltraCart answered {"successful": false}`)}
		e.scrubFields()
		return e
	}
	return nil
}

// revokeRefusal reads a 2xx revoke body that parseBody refused (a field of
// the wrong shape, trailing bytes, a duplicated key) as far as it goes, and
// says why it is not a success: a top-level "successful" that is not true,
// or an "error" that is not null or empty. "" means nothing in it refuses,
// so RFC 7009's "any 2xx revokes" applies. It never quotes the body.
func revokeRefusal(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return ""
		}
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			return ""
		}
		switch k, _ := kt.(string); k {
		case "successful":
			if s := string(bytes.TrimSpace(v)); s != "true" && s != `"true"` {
				return `"successful" is not true`
			}
		case "error":
			if s := string(bytes.TrimSpace(v)); s != "null" && s != `""` {
				return `it carries an "error"`
			}
		}
	}
	return ""
}

// tokenGone reports whether a revoke failed because the token was already
// invalid, so that there is nothing left to revoke: only the OAuth codes
// invalid_token and invalid_grant say so, as the RFC 6749 code or UltraCart's
// error_code. A 401 without them may be a refused client, a 404 or 405 a
// wrong URL, and a 410 a disabled application whose grants may come back:
// none of them says the token is dead.
func tokenGone(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range []string{e.Code, e.ErrorCode} {
		if c == "invalid_token" || c == "invalid_grant" {
			return true
		}
	}
	return false
}

// DeviceAuth starts UltraCart's device flow (RFC 8628): it asks for a device
// code and the user code to show the merchant, for [DeviceAccessToken] to
// poll. Unlike x/oauth2's cfg.DeviceAuth, it authenticates the client as
// cfg.Endpoint.AuthStyle says, never follows a redirect, honours
// [SimpleKeyContext], and reads numbers sent as strings. opts may carry extra
// form fields. The user code and the verification links, which are shown to
// the merchant, come back with the client secret and the simple key (in any
// encoding) replaced by [Redacted], should the server have echoed them.
func DeviceAuth(ctx context.Context, cfg *oauth2.Config, opts ...oauth2.AuthCodeOption) (*oauth2.DeviceAuthResponse, error) {
	form := optionValues(opts)
	if len(cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(cfg.Scopes, " "))
	}
	red := newRedactor()
	now := time.Now()
	r, err := postForm(ctx, opDeviceReq, cfg, cfg.Endpoint.DeviceAuthURL, form, wireCall{red: red})
	if err != nil {
		return nil, err
	}
	w, err := decode(opDeviceReq, r, red, time.Now())
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(w.DeviceCode.s) == "" {
		return nil, &Error{Op: opDeviceReq, StatusCode: r.status, Err: errors.New("response has no device_code"), red: red}
	}
	// The user code and links are shown to the merchant, on a terminal or
	// a page: never with the application's own credentials in them.
	simpleKey, _ := ctx.Value(simpleKeyCtx{}).(string)
	creds := newRedactor(cfg.ClientSecret, simpleKey)
	if cfg.ClientSecret != "" {
		creds.add(url.QueryEscape(cfg.ClientID) + ":" + url.QueryEscape(cfg.ClientSecret))
	}
	da := &oauth2.DeviceAuthResponse{
		DeviceCode:              w.DeviceCode.s,
		UserCode:                creds.scrub(w.UserCode.s),
		VerificationURI:         creds.scrub(w.VerificationURI.s),
		VerificationURIComplete: creds.scrub(w.VerificationURIComplete.s),
	}
	if d, ok, _ := parseExpiresIn(w.ExpiresIn); ok {
		da.Expiry = now.Add(d)
	}
	if n, err := strconv.ParseFloat(strings.TrimSpace(w.Interval.s), 64); err == nil && n > 0 {
		da.Interval = int64(min(n, maxPollInterval.Seconds()))
	}
	return da, nil
}

// maxPollInterval bounds the wait between device-flow polls, whatever the
// server asks for.
const maxPollInterval = MaxRetryAfter

// DeviceAccessToken polls UltraCart's token endpoint for a device
// authorization obtained with cfg.DeviceAuth, honouring the interval and
// slow_down, until the merchant approves, denies, the code expires or ctx
// ends. It parses the answer with the same tolerance as [Exchange], which
// x/oauth2's own DeviceAccessToken lacks, and like Exchange it returns a
// token or an error, never both.
func DeviceAccessToken(ctx context.Context, cfg *oauth2.Config, da *oauth2.DeviceAuthResponse) (*oauth2.Token, error) {
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
		form := url.Values{"grant_type": {GrantTypeDeviceCode}, "device_code": {da.DeviceCode}}
		tok, err := retrieveToken(ctx, cfg, form, "", nil, da.DeviceCode)
		var e *Error
		switch {
		case tok != nil:
			return newGrant(settle(ctx, tok, err))
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

package square

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// maxBody bounds what is read of any answer: Square's are a few hundred bytes.
const maxBody = 1 << 20

// Client calls Square's OAuth endpoints for one application. The zero
// Version is [DefaultVersion]; a nil HTTPClient is the context's
// [oauth2.HTTPClient], else http.DefaultClient. Redirects are never
// followed: the request carries the secret.
//
// A Client prints no secret: String, GoString, fmt and slog show the client
// ID and endpoint only.
type Client struct {
	Config     *oauth2.Config
	HTTPClient *http.Client
	Version    string
	// Now is the clock for the fallback expiry; nil is time.Now.
	Now func() time.Time
}

// NewClient returns a Client for cfg with the default version.
func NewClient(cfg *oauth2.Config) *Client { return &Client{Config: cfg} }

// String shows the client ID and token URL, never the secret.
func (c *Client) String() string {
	if c == nil || c.Config == nil {
		return "square.Client{}"
	}
	return fmt.Sprintf("square.Client{ClientID:%q ClientSecret:%q TokenURL:%q Version:%q}",
		c.Config.ClientID, mark(c.Config.ClientSecret), c.Config.Endpoint.TokenURL, c.version())
}

// GoString is String.
func (c *Client) GoString() string { return c.String() }

// Format makes every verb print String.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue is String for slog.
func (c *Client) LogValue() slog.Value { return slog.StringValue(c.String()) }

func (c *Client) version() string {
	if c.Version != "" {
		return c.Version
	}
	return DefaultVersion
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Exchange trades an authorization code for tokens. verifier is the PKCE
// code verifier, or "" in the code flow (the client secret is sent then).
func (c *Client) Exchange(ctx context.Context, code, verifier string) (*Answer, error) {
	r := TokenRequest{ClientID: c.Config.ClientID, GrantType: GrantAuthorizationCode,
		Code: code, RedirectURI: c.Config.RedirectURL, CodeVerifier: verifier}
	if verifier == "" {
		r.ClientSecret = c.Config.ClientSecret
	}
	return c.Token(ctx, r)
}

// Refresh uses a refresh token. In the code flow it returns the same
// refresh token; under PKCE (a Config without secret) a new one, and the
// old one is dead: save the answer before anything else.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*Answer, error) {
	return c.Token(ctx, TokenRequest{ClientID: c.Config.ClientID, ClientSecret: c.Config.ClientSecret,
		GrantType: GrantRefreshToken, RefreshToken: refreshToken})
}

// Token posts r to the token endpoint. A refresh answer without a refresh
// token keeps the one sent, as RFC 6749 section 6 allows.
func (c *Client) Token(ctx context.Context, r TokenRequest) (*Answer, error) {
	body, err := r.Body()
	if err != nil {
		return nil, err
	}
	secrets := append(r.secrets(), c.Config.ClientSecret)
	sc := newScrubber(secrets...)
	status, h, ans, err := c.post(ctx, "token", c.Config.Endpoint.TokenURL, body, nil, sc)
	if err != nil {
		return nil, err
	}
	if status/100 != 2 {
		return nil, DecodeError("token", status, h, ans, secrets...)
	}
	a, err := DecodeAnswer(ans, c.now())
	if err != nil {
		return nil, &Error{Op: "token", StatusCode: status, Class: Temporary, Err: err, scrub: sc}
	}
	if a.Token.RefreshToken == "" && r.GrantType == GrantRefreshToken {
		a.Token.RefreshToken = r.RefreshToken
	}
	return a, nil
}

// post sends a JSON body and reads the answer, bounded. auth, when set, is
// the Authorization header.
func (c *Client) post(ctx context.Context, op, u string, body []byte, auth *string, sc *scrubber) (int, http.Header, []byte, error) {
	if err := checkURL(u); err != nil {
		return 0, nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, errNetwork(op, err, sc)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set(HeaderVersion, c.version())
	if auth != nil {
		req.Header.Set("Authorization", *auth)
	}
	res, err := c.httpClient(ctx).Do(req)
	if err != nil {
		return 0, nil, nil, errNetwork(op, err, sc)
	}
	defer res.Body.Close()
	// A 3xx, or an answer that the caller's own Transport reached by
	// following a redirect (only such a request carries the redirect that
	// caused it): it comes from wherever the redirect pointed.
	if res.StatusCode/100 == 3 || (res.Request != nil && res.Request.Response != nil) {
		return 0, nil, nil, &Error{Op: op, StatusCode: res.StatusCode, Class: Misconfigured,
			Err: ucoauth.ErrRedirect, scrub: sc}
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxBody+1))
	if err != nil {
		return 0, nil, nil, errNetwork(op, err, sc)
	}
	if len(b) > maxBody {
		return 0, nil, nil, &Error{Op: op, StatusCode: res.StatusCode, Class: Temporary,
			Err: errors.New("answer larger than 1 MiB"), scrub: sc}
	}
	return res.StatusCode, res.Header, b, nil
}

// httpClient is the configured client with redirects turned off.
func (c *Client) httpClient(ctx context.Context) *http.Client {
	hc := c.HTTPClient
	if hc == nil {
		hc, _ = ctx.Value(oauth2.HTTPClient).(*http.Client)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	cp := *hc
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

// checkURL refuses plain http except to loopback, where test servers live.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("square: bad endpoint URL: %w", err)
	}
	if u.Scheme == "https" {
		return nil
	}
	if u.Scheme == "http" {
		h := u.Hostname()
		if h == "localhost" {
			return nil
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ucoauth.ErrInsecureEndpoint, u.Redacted())
}

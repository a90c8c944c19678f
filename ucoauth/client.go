package ucoauth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// NewClient returns an HTTP client for the API that sends src's token as
// "Authorization: Bearer ..." and the provider's API headers (UltraCart's
// X-UltraCart-Api-Version) on every request to the API's origin (see
// [Transport]). Like oauth2.NewClient, it
// takes its base transport from an oauth2.HTTPClient value in ctx, if any.
func NewClient(ctx context.Context, src oauth2.TokenSource) *http.Client {
	var base http.RoundTripper
	if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
		base = c.Transport
	}
	return &http.Client{Transport: &Transport{Source: src, Base: base}}
}

// Transport authorizes requests to UltraCart's API. It refuses to send a
// token over plain http to anything but a loopback address, and sends it
// only to the API's origin: a request anywhere else (say, a redirect the
// http.Client follows to another host) goes out as it came, without
// Authorization.
//
// When the API answers 401 and Source is a *TokenSource (or a Manager's
// client), the token is invalidated, one refresh is
// shared by every request refused with it, and the request is sent once
// more with the new token if its body can be replayed (no body, or
// GetBody set), and a third time if that one was refused too and a newer
// token replaced it meanwhile (a second rotation); otherwise the 401 is returned and the next request uses the
// new token. If the refresh finds the grant dead, the request fails with an
// error matching [ErrReauthorizationRequired]. Other sources get no retry.
//
// Token requests that refusals force are paced (see
// [TokenSource]). When a *TokenSource (or a Manager's client)
// cannot refresh a refused token because the pace holds the request back,
// and no newer token is stored, the token is fresh (a refusal had it
// refreshed moments ago): the 401 is the API's word on that request (a
// path outside the grant's scope, say). The token stays in service for
// every other request, and that request alone fails with a [*RefusedError]
// (matching [ErrTokenRefused]) instead of the 401; it is not sent again
// with that token until the pace allows another refresh.
type Transport struct {
	// Source supplies tokens. When it has a TokenContext method, as
	// *TokenSource does, the request's context bounds the wait for a refresh.
	Source oauth2.TokenSource
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Origin is the scheme, host and optional port that get the token, such
	// as "https://secure.ultracart.com". Empty means the origin of the
	// Source's token endpoint when it is a *TokenSource (or a Manager's
	// client), and UltraCart's otherwise.
	Origin string
}

type contextSource interface {
	TokenContext(context.Context) (*oauth2.Token, error)
}

// invalidator is a source that can be told the API refused a token.
type invalidator interface {
	invalidate(*oauth2.Token) bool
}

// originSource is a source that knows its API's origin.
type originSource interface {
	origin() string
}

func (s *TokenSource) origin() string { return s.cfg.Endpoint.TokenURL }

// providerSource is a source that knows its OAuth server's [Provider].
type providerSource interface {
	provider() Provider
}

func (s *TokenSource) provider() Provider { return s.o.wire().prov() }

// RoundTrip authorizes req and sends it with the base transport.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	closeBody := func() {
		if req.Body != nil {
			req.Body.Close()
		}
	}
	if t.Source == nil {
		closeBody()
		return nil, errors.New("ucoauth: Transport has no Source")
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if !sameOrigin(req.URL, t.origin()) {
		return base.RoundTrip(req) // not the API: no token, no API header
	}
	if req.URL.Scheme != "https" && !isLoopback(req.URL.Hostname()) {
		closeBody()
		return nil, ErrInsecureEndpoint
	}
	tok, err := t.token(req)
	if err != nil {
		closeBody()
		return nil, err
	}
	rf, _ := t.Source.(refuser)
	if rf != nil && rf.refusedFor(tok, req) {
		// The API refused this request with this token already, while the
		// pace held the refresh back.
		if err := rf.hold(tok, requestKey(req)); err != nil {
			closeBody()
			return nil, err
		}
		// The pace allows one now: have the token replaced.
		rf.invalidate(tok)
		if tok, err = t.token(req); err != nil {
			closeBody()
			return nil, err
		}
	}
	p := t.provider()
	resp, err := base.RoundTrip(authorized(p, req, req.Body, tok))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	inv, ok := t.Source.(invalidator)
	if !ok {
		return resp, nil
	}
	inv.invalidate(tok) // no-op when tok was already replaced
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil // the body is spent: the next request uses a new token
	}
	next, err := t.token(req)
	if err != nil {
		discard(resp)
		return nil, err
	}
	if next.AccessToken == tok.AccessToken {
		// Back in service: the token is fresh, the refusal this request's.
		if rerr := t.held(rf, tok, req); rerr != nil {
			discard(resp)
			return nil, rerr
		}
		return resp, nil
	}
	for retry := 1; ; retry++ {
		body := req.Body
		if req.GetBody != nil {
			if body, err = req.GetBody(); err != nil {
				return resp, nil
			}
		}
		discard(resp)
		resp, err = base.RoundTrip(authorized(p, req, body, next))
		if rf == nil || err != nil || resp.StatusCode != http.StatusUnauthorized {
			return resp, err
		}
		// Refused with the new token too. Unless a newer one is stored, it
		// comes back into service, and the refusal is this request's.
		rf.invalidate(next)
		again, terr := t.token(req)
		if terr != nil {
			discard(resp)
			return nil, terr
		}
		if again.AccessToken == next.AccessToken {
			if rerr := t.held(rf, next, req); rerr != nil {
				discard(resp)
				return nil, rerr
			}
			return resp, nil
		}
		if retry == maxRotationRetries {
			return resp, nil // bounded: no loop
		}
		// A newer token replaced the new one while the retry was on its
		// way: a second rotation (a server that revokes the previous access
		// token at each refresh, refreshes in quick succession on a loaded
		// machine). Sent once more, with it.
		next = again
	}
}

// maxRotationRetries is how many times, at most, Transport sends a refused
// request again: once with the token that replaced the refused one, and
// once more if a newer token replaced that one too while the retry was on
// its way. Three sends in all, never a loop.
const maxRotationRetries = 2

// held is the error for req, refused with tok, which the source kept in
// service because the pace of forced refreshes held the refresh back; nil
// when it did not (or the source cannot tell).
func (t *Transport) held(rf refuser, tok *oauth2.Token, req *http.Request) error {
	if rf == nil {
		return nil
	}
	if err := rf.hold(tok, requestKey(req)); err != nil {
		return err
	}
	return nil
}

func (t *Transport) token(req *http.Request) (*oauth2.Token, error) {
	if cs, ok := t.Source.(contextSource); ok {
		return cs.TokenContext(req.Context())
	}
	return t.Source.Token()
}

// provider is the Source's [Provider], or UltraCart.
func (t *Transport) provider() Provider {
	if p, ok := t.Source.(providerSource); ok {
		return p.provider()
	}
	return ultraCart{}
}

func (t *Transport) origin() string {
	if t.Origin != "" {
		return t.Origin
	}
	if o, ok := t.Source.(originSource); ok {
		return o.origin()
	}
	return BaseURL
}

// authorized is a copy of req with body, tok's Authorization and p's API
// headers: a RoundTripper must not modify req.
func authorized(p Provider, req *http.Request, body io.ReadCloser, tok *oauth2.Token) *http.Request {
	r2 := req.Clone(req.Context())
	r2.Body = body
	tok.SetAuthHeader(r2)
	p.SetAPIHeader(r2.Header)
	return r2
}

// discard drains a little of a response we drop, so its connection can be
// reused, and closes it.
func discard(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}

// sameOrigin reports whether u has the scheme, host and port of the URL
// origin (RFC 6454), with default ports made explicit.
func sameOrigin(u *url.URL, origin string) bool {
	o, err := url.Parse(origin)
	if err != nil || o.Host == "" {
		return false // fail closed: no token to an unknown origin
	}
	return strings.EqualFold(u.Scheme, o.Scheme) &&
		strings.EqualFold(u.Hostname(), o.Hostname()) &&
		port(u) == port(o)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

package ucoauth

import (
	"context"
	"errors"
	"net/http"

	"golang.org/x/oauth2"
)

// NewClient returns an HTTP client for UltraCart's API that sends src's token
// as "Authorization: Bearer ..." and X-UltraCart-Api-Version on every
// request. Like oauth2.NewClient, it takes its base transport from an
// oauth2.HTTPClient value in ctx, if any.
func NewClient(ctx context.Context, src oauth2.TokenSource) *http.Client {
	var base http.RoundTripper
	if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
		base = c.Transport
	}
	return &http.Client{Transport: &Transport{Source: src, Base: base}}
}

// Transport authorizes requests to UltraCart's API. It refuses to send a
// token over plain http to anything but a loopback address.
type Transport struct {
	// Source supplies tokens. When it has a TokenContext method, as
	// *TokenSource does, the request's context bounds the wait for a refresh.
	Source oauth2.TokenSource
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
}

type contextSource interface {
	TokenContext(context.Context) (*oauth2.Token, error)
}

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
	if req.URL.Scheme != "https" && !isLoopback(req.URL.Hostname()) {
		closeBody()
		return nil, ErrInsecureEndpoint
	}
	var (
		tok *oauth2.Token
		err error
	)
	if cs, ok := t.Source.(contextSource); ok {
		tok, err = cs.TokenContext(req.Context())
	} else {
		tok, err = t.Source.Token()
	}
	if err != nil {
		closeBody()
		return nil, err
	}
	r2 := req.Clone(req.Context()) // a RoundTripper must not modify req
	tok.SetAuthHeader(r2)
	if r2.Header.Get(HeaderAPIVersion) == "" {
		r2.Header.Set(HeaderAPIVersion, APIVersion)
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r2)
}

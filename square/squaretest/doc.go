// Package squaretest is a fake Square OAuth server for tests, the Square
// counterpart of ucoauthtest: real sockets (httptest), Square's JSON shapes,
// both refresh-token rules (code flow: reusable, the same one returned;
// PKCE: single use, a new one each refresh, 90 days), revoke behind
// "Authorization: Client <secret>" and merchant-wide, token status, error
// bodies, 429 with and without Retry-After, failure injection, and signed
// oauth.authorization.revoked webhooks.
//
// Use it in your own tests:
//
//	sq := squaretest.NewServer()
//	defer sq.Close()
//	c := square.NewClient(sq.Config("MERCHANT_PROFILE_READ"))
package squaretest

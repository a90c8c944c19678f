// Package square holds what is particular to Square's OAuth API, so that an
// application acting for many Square merchants (sellers) can keep their
// tokens fresh with the same engine as UltraCart's. The engine in package
// ucoauth never learns Square's name: everything Square does differently
// lives here.
//
// What Square does differently from RFC 6749:
//
//   - The token request is a JSON body ([TokenRequest]), not a form, and the
//     answer gives expires_at in RFC 3339 ([ParseExpiresAt]), with the
//     merchant's ID, short_lived and, under PKCE, refresh_token_expires_at
//     ([DecodeAnswer]).
//   - Refresh tokens follow two rules. In the code flow (with the client
//     secret) a refresh token is reusable, does not expire, and a refresh
//     returns the same one. Under PKCE (no secret) it is single use, expires
//     after 90 days ([PKCERefreshTokenLifetime]) and each refresh returns a
//     new one, which must be saved before the old one is used again.
//   - Errors are {"errors":[{"category","code","detail"}]}; [DecodeError]
//     maps them to three classes ([Class]): temporary (including 429 with or
//     without Retry-After), the merchant must reconnect, the application is
//     misconfigured.
//   - Revoke ([Client.Revoke], [Client.RevokeMerchant]) authenticates with
//     the header "Authorization: Client <application secret>" and revokes
//     every token of the merchant for the application; by merchant ID it
//     needs no token at all.
//   - Token status ([Client.Status]) tells whether a merchant is still
//     connected without spending a refresh.
//   - API calls carry a Square-Version header ([HeaderVersion],
//     [DefaultVersion]).
//   - Square advises refreshing by age, at least every 7 days, and alerting
//     after 8 days without a successful refresh ([RefreshEvery],
//     [StaleAfter], [DueForRefresh], [IsStale]). [Provider.Policy] hands
//     that policy to the engine: its TokenSource refreshes a token 7 days
//     old, trusts its 30-day lifetime, keeps the merchant's ID with it, and
//     its Status reports Overdue after 8 days.
//   - The oauth.authorization.revoked webhook ([VerifyRevokedWebhook])
//     tells the application that a merchant disconnected it; [Webhook.Bury]
//     verifies it and buries the merchant in the token store in one call.
//
// # RenewToken is deprecated
//
// Square's RenewToken endpoint (POST /oauth2/clients/{client_id}/access-token/renew)
// has been deprecated since Square-Version 2019-03-13, when ObtainToken
// started returning refresh tokens. This package does not call it and
// offers nothing built on it: refresh with the refresh_token grant instead.
//
// # Secrets
//
// No error, String, GoString, fmt verb, slog value or JSON produced by this
// package contains the client secret, a token, a code or a code verifier,
// the value of the "Authorization: Client" header included. Server text
// that echoes one is scrubbed.
//
// A faithful fake Square for tests lives in package squaretest.
package square

// Package ucoauth connects Go programs to UltraCart on a merchant's behalf
// through OAuth 2, as an adapter for golang.org/x/oauth2.
//
// x/oauth2 alone cannot talk to UltraCart reliably: UltraCart sends
// expires_in as a string that may be empty, x/oauth2 cannot persist a
// refreshed token nor revoke one, and its refresh is per process. This
// package adds:
//
//   - [Endpoint] and [NewConfig], with credentials in the form as UltraCart
//     expects;
//   - [Exchange], [Revoke] and [DeviceAccessToken], which parse UltraCart's
//     answers tolerantly and fail with a typed [*Error];
//   - [TokenSource], an oauth2.TokenSource that refreshes before expiry in
//     the background, persists through a [TokenStore] and, with a store that
//     is a [Locker], makes one refresh per merchant across many processes;
//   - [NewClient], an http.Client that sends the token and the
//     X-UltraCart-Api-Version header UltraCart requires, to the API's origin
//     only, and recovers from a 401 with one refresh;
//   - [Manager], one TokenSource per merchant in a process, with idle
//     eviction, and [Status] for health checks.
//
// Stores live in package tokenstore; a fake UltraCart for tests lives in
// package ucoauthtest.
//
// # Secrets
//
// No error, log line or fmt verb produced by this package contains a token
// or the client secret: server messages that echo them are scrubbed, tokens
// are logged by [Fingerprint]. All scrubbing is done in one place, the
// module's internal/redact package, whatever the [Provider].
package ucoauth

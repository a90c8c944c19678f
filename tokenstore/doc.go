// Package tokenstore provides ucoauth.TokenStore implementations: Memory for
// tests and single processes, and File for processes sharing a host. For a
// fleet, the nested modules tokenstore/redisstore (Redis: single node,
// Sentinel or Cluster) and tokenstore/sqlstore (PostgreSQL, MySQL/MariaDB
// or SQLite) provide more, with the same guarantees. Seal wraps any of them to
// encrypt tokens at rest, with key rotation (ParseSealKeys, Reseal). Each is safe for concurrent use, refuses to replace a token
// with an older one (ucoauth.ErrSuperseded), never replaces a refresh token
// with an empty one, and implements ucoauth.Locker so that a TokenSource
// refreshes each key once across everyone sharing the store.
//
// All of them keep the same versioned JSON record and apply the same rules
// on Load and Save:
//
//   - Keys must be non-empty, valid UTF-8; others are refused by every
//     method with ErrInvalidKey.
//   - A record written by a newer format version is never overwritten:
//     Load and Save fail with ErrNewerFormat, so a rolling upgrade cannot
//     lose a refresh token. Upgrade every reader before any writer.
//   - A corrupt record is reported as ErrCorrupt and replaced only by a
//     real token.
//   - A loaded token never expires later than now plus
//     ucoauth.MaxProviderLifetime; a stored expiry too far out to be real makes the
//     token load as expired, and never wins against a real token.
//
// A store of your own can check itself with the tokenstore/storetest suite.
package tokenstore

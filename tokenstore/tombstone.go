package tokenstore

import "github.com/ucoauth/go-ucoauth/internal/record"

// TombstoneRetention is how long a revocation lasts in a store: a tombstone
// (the record ucoauth.Tombstoner.Tombstone leaves), and the revoked grants
// that a token saved over it carries on. Within it, Save refuses a token of
// a revoked grant, and of no grant at all, with an error matching
// ucoauth.ErrRevoked. After it, a tombstone counts as no record (Load:
// ucoauth.ErrTokenNotFound; Keys leaves it out and removes it; the Redis
// store lets it expire by a TTL), and a token record sheds the revocation
// at its next save.
//
// A process holding a revoked grant in memory meets the tombstone at its
// next load or save: within a token's lifetime
// (ucoauth.MaxLifetime, or a provider's RefreshPolicy.RefreshAfterAge when
// it refreshes by age) of the revoke while it serves the merchant. Thirty
// days also covers
// a source left idle for weeks; only one that makes no refresh and reads
// no store for longer than that could save the revoked grant again.
const TombstoneRetention = record.TombstoneRetention

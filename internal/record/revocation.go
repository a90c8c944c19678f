package record

// Revocations, as a record carries them: format.go and tombstone.go use
// this file, which uses neither.

import (
	"fmt"
	"slices"
	"time"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

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
const TombstoneRetention = 30 * 24 * time.Hour

// MaxRevoked bounds the revocations a record keeps: the newest win.
const MaxRevoked = 16

// MaxGrantLen bounds a grant ID (ucoauth.NewGrantID makes 34 bytes).
const MaxGrantLen = 128

// Revocation is one revoked grant in a record. Grant "" stands for every
// token that carries no grant ID: nothing tells a new authorization without
// one from a refresh of the revoked grant, so a tombstone refuses them all.
type Revocation struct {
	Grant string    `json:"grant"`
	At    time.Time `json:"at"`
}

// tombstoneError is Load's answer for a tombstoned key.
type tombstoneError struct{}

func (tombstoneError) Error() string {
	return "tokenstore: the key was revoked (a tombstone): the merchant has to connect again"
}

// Is matches ucoauth.ErrTokenNotFound (no token is stored, for callers that
// know nothing of tombstones) and ucoauth.ErrRevoked (and through it
// ucoauth.ErrReauthorizationRequired).
func (tombstoneError) Is(target error) bool {
	return target == ucoauth.ErrTokenNotFound || target == ucoauth.ErrRevoked || target == ucoauth.ErrReauthorizationRequired
}

// Temporary is false: the tombstone stays until a new authorization.
func (tombstoneError) Temporary() bool { return false }

// ErrTombstone is Load's error for a key that a live tombstone holds.
var ErrTombstone error = tombstoneError{}

// refusedRevoked is Save's error for a token of a revoked grant.
func refusedRevoked(grant string) error {
	if grant == "" {
		return fmt.Errorf("tokenstore: refusing a token with no grant ID over a Revocation (stamp a new authorization with ucoauth.WithGrantID): %w", ucoauth.ErrRevoked)
	}
	return fmt.Errorf("tokenstore: refusing a token of grant %q, which was revoked: %w", grant, ucoauth.ErrRevoked)
}

// Live returns the revocations still within TombstoneRetention at now. An
// entry dated in the future (another host's clock) lasts from that date.
func Live(revoked []Revocation, now time.Time) []Revocation {
	var out []Revocation
	for _, r := range revoked {
		if now.Before(r.At.Add(TombstoneRetention)) {
			out = append(out, r)
		}
	}
	return out
}

// SelfRevoked reports whether tok, stored with revocations revoked, is of
// a grant revoked at now. No build writes one, but a writer to the store
// can (grant IDs and revocations are readable, even under Seal): it is read
// as the tombstone it claims to be, never as a token to refresh, whose
// save would be refused, at every look.
func SelfRevoked(tok *oauth2.Token, revoked []Revocation, now time.Time) bool {
	return tok != nil && len(revoked) > 0 && IsRevoked(Live(revoked, now), ucoauth.GrantID(tok))
}

// IsRevoked reports whether grant is among revoked.
func IsRevoked(revoked []Revocation, grant string) bool {
	return slices.ContainsFunc(revoked, func(r Revocation) bool { return r.Grant == grant })
}

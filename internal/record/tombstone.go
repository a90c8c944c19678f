package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

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

// EncodeTombstone returns the tombstone that replaces the stored record
// oldRaw (nil or empty when the key holds nothing), revoking at now the
// stored token's grant, each of grants, and every token with no grant ID,
// and keeping the live revocations oldRaw carries. A record of a newer
// format is never overwritten (ErrNewerFormat); a corrupt one is replaced.
func EncodeTombstone(key string, oldRaw []byte, grants []string, now time.Time) ([]byte, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	var revoked []Revocation
	if len(oldRaw) > 0 {
		old, rs, err := Decode(key, oldRaw)
		if errors.Is(err, ErrNewerFormat) {
			return nil, fmt.Errorf("%w; not overwriting it", err)
		}
		if err == nil {
			revoked = Live(rs, now)
			if old != nil {
				grants = append(grants, ucoauth.GrantID(old))
			}
		}
	}
	for _, g := range append(grants, "") {
		if len(g) > MaxGrantLen || !utf8.ValidString(g) {
			return nil, fmt.Errorf("%w: a grant ID longer than %d bytes or not valid UTF-8", ErrInvalidToken, MaxGrantLen)
		}
		revoked = slices.DeleteFunc(revoked, func(r Revocation) bool { return r.Grant == g })
		revoked = append(revoked, Revocation{Grant: g, At: now.UTC()})
	}
	// The newest win: drop the oldest beyond the bound.
	slices.SortStableFunc(revoked, func(a, b Revocation) int { return a.At.Compare(b.At) })
	if n := len(revoked); n > MaxRevoked {
		revoked = revoked[n-MaxRevoked:]
	}
	return marshalTombstone(key, revoked)
}

// marshalTombstone encodes a tombstone.
func marshalTombstone(key string, revoked []Revocation) ([]byte, error) {
	b, err := json.Marshal(record{Version: Version, Key: key, Revoked: revoked})
	if err != nil { // unreachable: strings and times
		return nil, fmt.Errorf("%w: cannot encode a tombstone", ErrInvalidToken)
	}
	return b, nil
}

// State reads what a stored record is, for Keys: a token (listed), a
// live tombstone (not listed), or an expired one (not listed, and to be
// removed).
func State(key string, data []byte, now time.Time) (token, expiredTombstone bool) {
	tok, revoked, err := Decode(key, data)
	switch {
	case err != nil:
		return true, false // listed: Load reports what is wrong with it
	case SelfRevoked(tok, revoked, now):
		return false, false
	case tok != nil:
		return true, false
	}
	return false, len(Live(revoked, now)) == 0
}

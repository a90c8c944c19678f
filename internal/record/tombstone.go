package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/ucoauth/go-ucoauth/ucoauth"
)

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

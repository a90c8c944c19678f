package ucoauth

import (
	"crypto/rand"
	"encoding/hex"

	"golang.org/x/oauth2"
)

// ErrRevoked means the merchant's grant was revoked ([TokenSource.Revoke]
// left a tombstone in the store): a store refuses to save a token of that
// grant, and Load of the key fails with an error matching ErrRevoked and
// [ErrTokenNotFound]. It matches [ErrReauthorizationRequired]: the merchant
// has to connect again, and a new authorization (from [Exchange] or
// [DeviceAccessToken]) replaces the tombstone. It is not temporary.
var ErrRevoked error = revokedError{}

type revokedError struct{}

func (revokedError) Error() string {
	return "ucoauth: the merchant's grant was revoked; reauthorization required"
}

// Is makes ErrRevoked match ErrReauthorizationRequired.
func (revokedError) Is(target error) bool { return target == ErrReauthorizationRequired }

// Temporary is false: a revoked grant stays revoked.
func (revokedError) Temporary() bool { return false }

// NewGrantID returns a new random grant ID.
func NewGrantID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "g-" + hex.EncodeToString(b)
}

// WithGrantID returns a copy of tok that carries grant ID id (none when id
// is empty), tok's scope and its provider extras (see [ProviderExtras]).
// Other extras are not kept: no store keeps them. Stamp a token obtained
// without [Exchange] (oauth2.Config.Exchange, say) with WithGrantID(tok,
// NewGrantID()) before saving it as a new authorization: after a revoke, a
// store refuses a token with no grant ID until the tombstone expires (see
// tokenstore.TombstoneRetention).
func WithGrantID(tok *oauth2.Token, id string) *oauth2.Token {
	return withAllExtras(tok, scopeOf(tok), id, ProviderExtras(tok))
}

// newGrant stamps the token of a new authorization with a new grant ID.
func newGrant(tok *oauth2.Token, err error) (*oauth2.Token, error) {
	if tok == nil {
		return nil, err
	}
	return withExtras(tok, scopeOf(tok), NewGrantID()), err
}

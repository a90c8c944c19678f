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

// GrantExtra is the token extra (oauth2.Token.Extra) that names the grant a
// token belongs to: a random ID that [Exchange] and [DeviceAccessToken]
// give every new authorization and that every refresh by a [TokenSource]
// carries forward. The stores keep it, in the clear (it is no secret: it
// authorizes nothing), so that a tombstone can name the grant it revoked
// and still let a new authorization in. A token without it (saved by an
// earlier version, or obtained by other means) belongs to the "legacy"
// grant, named by the empty ID.
const GrantExtra = "ucoauth_grant"

// GrantID returns the grant ID tok carries (see [GrantExtra]), or "" when
// it carries none.
func GrantID(tok *oauth2.Token) string {
	if tok == nil {
		return ""
	}
	id, _ := tok.Extra(GrantExtra).(string)
	return id
}

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

// withExtras returns a copy of t whose extras are scope, grant ID and t's
// provider extras, each only when set.
func withExtras(t *oauth2.Token, scope, grant string) *oauth2.Token {
	return withAllExtras(t, scope, grant, ProviderExtras(t))
}

// withAllExtras returns a copy of t whose extras are scope, grant ID and
// the provider extras kept, each only when set; a kept extra is readable
// by its own name too.
func withAllExtras(t *oauth2.Token, scope, grant string, kept map[string]string) *oauth2.Token {
	extra := map[string]any{}
	clean := make(map[string]string, len(kept))
	for k, v := range kept {
		if !reservedExtra(k) { // a stored record may name anything
			extra[k], clean[k] = v, v
		}
	}
	if len(clean) > 0 {
		extra[extrasKey] = clean
	}
	if scope != "" {
		extra["scope"] = scope
	}
	if grant != "" {
		extra[GrantExtra] = grant
	}
	c := *t
	if len(extra) == 0 {
		return c.WithExtra(nil)
	}
	return c.WithExtra(extra)
}

// newGrant stamps the token of a new authorization with a new grant ID.
func newGrant(tok *oauth2.Token, err error) (*oauth2.Token, error) {
	if tok == nil {
		return nil, err
	}
	return withExtras(tok, scopeOf(tok), NewGrantID()), err
}

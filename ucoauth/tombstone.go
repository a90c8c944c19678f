package ucoauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"

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
// is empty) and tok's scope. Other extras are not kept: no store keeps
// them. Stamp a token obtained without [Exchange] (oauth2.Config.Exchange,
// say) with WithGrantID(tok, NewGrantID()) before saving it as a new
// authorization: after a revoke, a store refuses a token with no grant ID
// until the tombstone expires (see tokenstore.TombstoneRetention).
func WithGrantID(tok *oauth2.Token, id string) *oauth2.Token {
	return withExtras(tok, scopeOf(tok), id)
}

// withExtras returns a copy of t whose extras are scope and grant ID, each
// only when set.
func withExtras(t *oauth2.Token, scope, grant string) *oauth2.Token {
	extra := map[string]any{}
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

// dropRevokedLocked forgets the token this source holds, because the store
// says its grant was revoked, and records err, which matches ErrRevoked
// and so ErrReauthorizationRequired: callers get it, and the store is
// looked at again for a new authorization at most every lookEvery. s.mu
// must be held.
func (s *TokenSource) dropRevokedLocked(err error) {
	s.cur.Store(nil)
	now := s.o.now()
	s.update(func(h *health) {
		h.err = err
		h.count++
		h.failedAt = unixNanos(now)
		h.nextTry = unixNanos(now.Add(s.backoff(h.count, err)))
		h.lastLook = unixNanos(now)
		h.notFound, h.rejected, h.deadRT, h.deadErr = false, "", "", nil
	})
}

// revokeRefresh asks the revoke endpoint to revoke tok's refresh token too
// (RFC 7009, token_type_hint=refresh_token): a server that revokes only
// the token it is sent would otherwise keep the grant alive. UltraCart
// revokes the whole grant with the access token, so there this second
// call finds nothing left. It is best effort: the access token is revoked
// already, and the tombstone keeps the grant out of the store; a failure
// other than "already gone" or "unsupported" is logged.
func (s *TokenSource) revokeRefresh(ctx context.Context, tok *oauth2.Token) {
	if tok == nil || tok.RefreshToken == "" {
		return
	}
	red := newRedactor(tok.RefreshToken, tok.AccessToken)
	form := url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}
	err := revokeToken(ctx, s.cfg, form, s.o.wire(), red)
	var e *Error
	switch {
	case err == nil:
	case tokenGone(err), errors.As(err, &e) && e.Code == "unsupported_token_type":
		s.o.logger.Debug("ucoauth: the revoke endpoint has no refresh token left to revoke", "key", s.key, "err", err)
	default:
		s.o.logger.Warn("ucoauth: could not revoke the refresh token (the access token is revoked)", "key", s.key, "err", err)
	}
}

// bury marks the key revoked in the store: a tombstone naming the grant of
// tok and of the token this source holds, when the store is a Tombstoner;
// otherwise, or when a wrapper's inner store keeps none, it deletes the
// key.
func (s *TokenSource) bury(ctx context.Context, tok *oauth2.Token) error {
	if t, ok := s.store.(Tombstoner); ok {
		var grants []string
		for _, g := range []*oauth2.Token{tok, s.curTok()} {
			if id := GrantID(g); id != "" {
				grants = append(grants, id)
			}
		}
		err := t.Tombstone(ctx, s.key, grants...)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			return &StoreError{Op: "tombstone", Key: s.key, Err: err}
		}
	}
	s.o.logger.Warn("ucoauth: the store keeps no tombstones; deleting the revoked key (a process holding the grant in memory may save it again)", "key", s.key)
	if err := s.store.Delete(ctx, s.key); err != nil {
		return &StoreError{Op: "delete", Key: s.key, Err: err}
	}
	return nil
}

// curTok is the token the source holds, or nil.
func (s *TokenSource) curTok() *oauth2.Token {
	if st := s.cur.Load(); st != nil {
		return st.tok
	}
	return nil
}

package ucoauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"golang.org/x/oauth2"
)

// Revoke sits on top of a source: it waits for the flight, revokes the
// grant at the server, and buries it in the store.

// Revoke revokes the merchant's grant at UltraCart (the access token, then,
// best effort, the refresh token: RFC 7009 token_type_hint=refresh_token)
// and replaces the stored token with a tombstone (see [Tombstoner]), so that
// no process holding the grant in memory can save it back; a store that
// keeps no tombstones has the key deleted instead. A token UltraCart already
// considers dead is buried all the same; any other failure is returned and
// the token is kept, so that the revoke can be tried again. A key with no
// token, or already revoked, is not an error.
func (s *TokenSource) Revoke(ctx context.Context) error {
	tok, err := s.TokenContext(ctx)
	gone := errors.Is(err, ErrReauthorizationRequired)
	switch {
	case errors.Is(err, ErrTokenNotFound):
		return nil
	case err != nil && !gone:
		return err
	}
	c, err := s.join(ctx) // no refresh may save behind our back
	if err != nil {
		return err
	}
	if err := s.revokeHeld(ctx, tok, gone); err != nil {
		s.mu.Lock()
		// Nothing changed: waiters get the current token, or the error
		// when there is none.
		cur, werr := s.cur.Load(), error(nil)
		if cur == nil {
			werr = err
		}
		s.endLocked(c, cur, werr)
		return err
	}
	s.mu.Lock()
	s.cur.Store(nil)
	s.update(func(h *health) {
		h.policy = step(h.policy, event{kind: evBuried}, 0, s.pc)
		h.retry = nil
	})
	s.endLocked(c, nil, s.persist().notFound())
	s.o.logger.Info("ucoauth: revoked", "key", s.key)
	return nil
}

// join waits until no flight runs, then starts one for the caller.
func (s *TokenSource) join(ctx context.Context) (*call, error) {
	for {
		s.mu.Lock()
		w := s.inflight
		if w == nil {
			c := s.beginLocked()
			s.mu.Unlock()
			return c, nil
		}
		done := s.doneLocked(w)
		s.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return nil, fmt.Errorf("ucoauth: waiting to revoke %q: %w", s.key, ctx.Err())
		}
	}
}

func (s *TokenSource) revokeHeld(ctx context.Context, tok *oauth2.Token, gone bool) error {
	// A save of this source being retried holds the lock: borrow it, or
	// the revoke would wait for this very process.
	lk := borrow(s.heldRetry())
	if lk == nil {
		lease, err := lockLease(ctx, s.store, s.key)
		if err != nil {
			return &StoreError{Op: "lock", Key: s.key, Err: err}
		}
		if lease != nil {
			lk = &held{lease: lease}
		}
	}
	defer lk.release()
	if !gone {
		if st := s.cur.Load(); st != nil {
			tok = st.tok // a refresh may have finished meanwhile
		}
		if stored, err := s.store.Load(ctx, s.key); err == nil {
			tok = newest(tok, stored) // or another process's
		}
		if err := revoke(ctx, s.cfg, tok.AccessToken, s.o, tok.RefreshToken); err != nil && !tokenGone(err) {
			return err
		}
		s.revokeRefresh(ctx, tok)
	}
	return s.persist().bury(ctx, tok, s.curTok())
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

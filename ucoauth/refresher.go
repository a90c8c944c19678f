package ucoauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"golang.org/x/oauth2"
)

// The refresher brings a source's token up to date: it adopts a fresh
// token another process stored, or refreshes at the server under the
// store's lock and saves the result. It changes nothing of the source's
// state: it returns a result, which the source installs (see finish).

// refreshOwner is what the refresher needs of its source: the persistence's
// needs, and the health policy's state as it stands.
type refreshOwner interface {
	saveOwner
	policyNow() policy
}

// refresher is one refresh of one source.
type refresher struct {
	persister
	cfg *oauth2.Config
	own refreshOwner
}

// result is what a refresh found: a token to install (st, may come with
// err), or a failure (err). The policy reads the failure's class and any
// retry-after from err (see failed).
type result struct {
	st  *state
	err error
	// ev is the refresh to report, when it reached the server.
	ev *RefreshEvent
	// dead is a refresh token the server refused: never sent again.
	dead deadGrant
	// forcedAt is when a token request forced by an API refusal was
	// admitted (a step of the pace), or 0.
	forcedAt int64
}

// refresh brings cur, the state the source holds (nil: none), up to date.
func (r refresher) refresh(ctx context.Context, cur *state) (res result) {
	var mem *oauth2.Token
	byAPI := false // the API refused the token: a forced refresh, paced
	if cur != nil {
		if cur.freshAt(r.o.now()) {
			return result{st: cur} // already fresh: never refresh a fresh token
		}
		mem, byAPI = cur.tok, cur.rejected()
	}
	// Look before locking: another process may have refreshed already, and
	// a cold start of many merchants should not take a lock per merchant.
	stored, fresh, corrupt, err := r.look(ctx, r.own, mem)
	if fresh != nil || err != nil {
		return result{st: fresh, err: err}
	}
	if err := r.own.policyNow().deadErr(refreshTokenOf(newest(mem, stored))); err != nil {
		return result{err: err} // no request for a grant known dead
	}
	if byAPI {
		if err := r.paced(); err != nil {
			return result{err: err} // no store lock for a refusal the pace holds back
		}
	}
	r.restoreNewer(ctx, stored, mem) // for a refresh waiting out lostGrace
	lk, adopt, err := r.lock(ctx, r.own, mem)
	if err != nil {
		return result{err: err}
	}
	if adopt != nil {
		return result{st: adopt} // the holder we waited for saved a fresh token
	}
	if lk != nil {
		// Released when the refresh ends, unless a save being retried
		// keeps it (see retryLater).
		defer lk.release()
		// Under the lock, look again: the holder we waited for has saved.
		if stored, fresh, corrupt, err = r.look(ctx, r.own, mem); fresh != nil || err != nil {
			return result{st: fresh, err: err}
		}
		if stored == nil && !corrupt && mem != nil {
			// The store lost the token: another process may hold a newer
			// copy than mem (see lost.go).
			if stored, fresh, err = r.restoreLost(ctx, r.own, mem); fresh != nil || err != nil {
				return result{st: fresh, err: err}
			}
		}
	}
	if corrupt {
		// Only a record the store lets the token in memory replace is
		// garbage. One it keeps (sealed with a key this process lacks,
		// written in a newer format) was written after that token, by a
		// process that may have rotated its refresh token away: refreshing
		// from memory would send a dead one, and the result could not be
		// saved anyway.
		if err := r.save(ctx, mem); err != nil {
			if !isStoreError(err) { // ErrSuperseded: a token arrived meanwhile
				err = &StoreError{Op: "save", Key: r.key, Err: err}
			}
			return result{err: err}
		}
		r.o.logger.Warn("ucoauth: replaced an unreadable stored record with the token in memory, to refresh it", "key", r.key)
	}
	base := newest(mem, stored) // refresh with the newest refresh token known
	if err := r.own.policyNow().deadErr(refreshTokenOf(base)); err != nil {
		return result{err: err}
	}
	if byAPI {
		// Decided again under the lock, and the step taken.
		if err := r.paced(); err != nil {
			return result{err: err}
		}
		res.forcedAt = r.nowNanos()
	}
	res.st, res.ev, res.dead, res.err = r.refreshFrom(ctx, base, lk)
	return res
}

func refreshTokenOf(t *oauth2.Token) string {
	if t == nil {
		return ""
	}
	return t.RefreshToken
}

func (r refresher) nowNanos() int64 { return unixNanos(r.o.now()) }

// paced is the error for a token request forced by an API refusal while
// the pace holds it back: a refused request (one per path, or per resource
// ID, outside the grant's scope) costs one store read, to adopt a newer
// stored token, and no lock and no token request.
func (r refresher) paced() error {
	p := r.own.policyNow()
	if until, held := p.paceHolds(r.nowNanos()); held {
		return &apiRefusedError{key: r.key, n: p.pace.n, until: until}
	}
	return nil
}

// refreshFrom refreshes with base's refresh token and saves the result,
// under lk, the store's refresh lock (nil when it has none). It checks lk
// immediately before it presents the refresh token, and gives up when the
// lock is lost: another process may be presenting the same one. Once
// UltraCart answered, the token is saved whatever lk says: its refresh
// token is the only live one.
func (r refresher) refreshFrom(ctx context.Context, base *oauth2.Token, lk *held) (*state, *RefreshEvent, deadGrant, error) {
	now := r.o.now()
	if base.RefreshToken == "" {
		err := fmt.Errorf("%w: token %q has no refresh token", ErrReauthorizationRequired, r.key)
		if r.own.rejectedTok() == base.AccessToken {
			return nil, nil, deadGrant{}, err // the API refused it: never serve it again
		}
		if st := newState(base, now, r.o.lifetimes()); st.validAt(now) {
			return st, nil, deadGrant{}, err // serve it while it lasts
		}
		return nil, nil, deadGrant{}, err
	}

	rctx, cancel := context.WithTimeout(ctx, r.o.timeout)
	defer cancel()
	if r.o.client != nil {
		rctx = context.WithValue(rctx, oauth2.HTTPClient, r.o.client)
	}
	if err := lk.keep(rctx); err != nil {
		return nil, nil, deadGrant{}, &StoreError{Op: "lock", Key: r.key, Err: err}
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {base.RefreshToken}}
	// The access token is not sent, but the server issued it and may echo it.
	tok, err := retrieveToken(rctx, r.cfg, form, r.o.wire(), base.RefreshToken, base.AccessToken)
	took := r.o.now().Sub(now)
	if tok == nil {
		var dead deadGrant
		if errors.Is(err, ErrReauthorizationRequired) {
			dead = deadGrant{rt: base.RefreshToken, err: err} // never sent again
		}
		return nil, &RefreshEvent{Key: r.key, Err: err, Duration: took}, dead, err
	}
	warn := err // ErrBadExpiresIn: keep the token, say so
	if tok.RefreshToken == "" {
		tok.RefreshToken = base.RefreshToken // not rotated: the old one lives on
	}
	if scopeOf(tok) == "" {
		tok = withScope(tok, scopeOf(base))
	}
	// The same grant, refreshed: an extra the answer lacks (the merchant's
	// ID, say) is base's still.
	tok = withAllExtras(tok, scopeOf(tok), GrantID(base), mergedExtras(tok, base))
	st, ev, err := r.saveRefreshed(ctx, base, tok, lk, warn)
	if ev != nil {
		ev.Duration = took
	}
	return st, ev, deadGrant{}, err
}

// saveRefreshed saves tok, refreshed from base, before it is handed out,
// so no process can be left holding a refresh token the store has never
// seen. warn is what is wrong with tok already.
func (r refresher) saveRefreshed(ctx context.Context, base, tok *oauth2.Token, lk *held, warn error) (*state, *RefreshEvent, error) {
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), r.o.timeout)
	defer scancel()
	if lk != nil {
		lk.got = true
		if err := lk.keep(sctx); err != nil {
			// Too late to give up: UltraCart rotated the refresh token, and
			// the one in tok is the only live one. Saved all the same.
			err = &StoreError{Op: "lock", Key: r.key, Err: err}
			r.o.logger.Error("ucoauth: lost the refresh lock while refreshing; saving the new token all the same", "key", r.key, "err", err)
			warn = errors.Join(warn, err)
		}
	}
	rotated := tok.RefreshToken != base.RefreshToken
	var se *StoreError
	switch err := r.save(sctx, tok); {
	case err == nil:
	case errors.Is(err, ErrRevoked):
		// The store holds a tombstone of this grant: it was revoked
		// meanwhile, and what UltraCart just gave must not live on. The
		// merchant may have connected again since: then the store holds
		// the new grant's token, to be served, not "connect again".
		if stored, fresh, _, _ := r.look(sctx, r.own, nil); fresh != nil && GrantID(stored) != GrantID(base) {
			return fresh, &RefreshEvent{Key: r.key, Err: err}, nil
		}
		return nil, &RefreshEvent{Key: r.key, Err: err}, err
	case errors.Is(err, ErrSuperseded):
		stored, fresh, _, _ := r.look(sctx, r.own, nil)
		if stored != nil && stored.AccessToken == base.AccessToken && stored.RefreshToken == base.RefreshToken {
			// What "expires later" is the very token we refreshed from: its
			// expiry is bogus (year 3000), or UltraCart granted ours a
			// shorter lifetime. Ours is newer; replace it.
			if err = r.replace(sctx, tok); err == nil {
				break
			}
			if errors.As(err, &se) && se.Temporary() {
				// As for any save: the rotated token must reach the store.
				r.retryLater(r.own, tok, base, err, lk, rotated)
			}
		} else if fresh != nil {
			// A newer token won the race; use it instead of ours.
			return fresh, &RefreshEvent{Key: r.key, Token: tok, Err: err}, nil
		}
		warn = errors.Join(warn, err)
	case errors.As(err, &se) && se.Temporary():
		warn = errors.Join(warn, err)
		r.retryLater(r.own, tok, nil, err, lk, rotated)
	default:
		// Retrying cannot help (the store refuses the record for good):
		// the token lives in memory only, and is served.
		r.o.logger.Error("ucoauth: cannot save the refreshed token, for good; serving it from memory only", "key", r.key, "err", err)
		warn = errors.Join(warn, err)
	}
	return newState(tok, r.o.now(), r.o.lifetimes()), &RefreshEvent{Key: r.key, Token: tok, Err: warn}, nil
}

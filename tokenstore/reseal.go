package tokenstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// This file is key rotation over a store Seal returned (seal.go).

// sealedStore is implemented by every store Seal returns.
type sealedStore interface{ sealedBase() *sealed }

func (w *sealed) sealedBase() *sealed { return w }

// Reseal rewrites, with the primary key, every record of store (a store
// returned by Seal over a ucoauth.Lister) that is not already sealed with it
// entirely: records sealed with an older key, and unsealed ones when the
// plaintext pseudo-key is configured. It returns how many it rewrote.
//
// Each record is rewritten under the store's lock when it is a Locker, and
// with the inner store's compare-and-set, so a refresh running at the same
// time wins (its token is newer) and no refresh token is lost. A record that
// cannot be opened is left untouched and reported; Reseal carries on with
// the others and returns every such error, joined. Once it returns n and a
// nil error, the older keys can be retired.
func Reseal(ctx context.Context, store ucoauth.TokenStore) (n int, err error) {
	ss, ok := store.(sealedStore)
	if !ok {
		return 0, fmt.Errorf("tokenstore: Reseal needs a store returned by Seal, not %T", store)
	}
	w := ss.sealedBase()
	lister, ok := w.inner.(ucoauth.Lister)
	if !ok {
		return 0, fmt.Errorf("tokenstore: Reseal needs an inner store that lists its keys (ucoauth.Lister); %T does not", w.inner)
	}
	keys, err := lister.Keys(ctx)
	if err != nil {
		return 0, fmt.Errorf("tokenstore: Reseal: listing keys: %w", err)
	}
	locker, _ := w.inner.(ucoauth.Locker)
	var errs []error
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return n, errors.Join(append(errs, err)...)
		}
		done, err := w.resealOne(ctx, locker, key)
		if err != nil {
			errs = append(errs, fmt.Errorf("tokenstore: Reseal %q: %w", key, err))
		}
		if done {
			n++
		}
	}
	return n, errors.Join(errs...)
}

func (w *sealed) resealOne(ctx context.Context, locker ucoauth.Locker, key string) (bool, error) {
	if locker != nil {
		unlock, err := locker.Lock(ctx, key)
		if err != nil {
			return false, err
		}
		defer unlock()
	}
	stored, err := w.inner.Load(ctx, key)
	if errors.Is(err, ucoauth.ErrTokenNotFound) {
		return false, nil // deleted since it was listed
	}
	if err != nil {
		return false, err
	}
	tok, err := w.s.openToken(key, stored) // even when sealed by primary: report what does not open
	if err != nil {
		return false, err
	}
	if w.s.sealedByPrimary(stored) {
		return false, nil
	}
	err = w.inner.Save(ctx, key, w.s.sealToken(key, tok))
	if errors.Is(err, ucoauth.ErrSuperseded) {
		return false, nil // a newer token, sealed by its writer, won
	}
	return err == nil, err
}

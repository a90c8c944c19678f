package square

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// Webhook is an application's subscription to oauth.authorization.revoked,
// for [Webhook.Bury].
type Webhook struct {
	// SignatureKey is the subscription's signature key.
	SignatureKey string
	// NotificationURL is the subscription's URL, byte for byte as Square
	// signs it.
	NotificationURL string
	// Key maps a merchant's ID to its key in the token store; nil means
	// the merchant's ID is the key.
	Key func(merchantID string) string
}

// ErrReconnectedSince means the revoked merchant's stored token was issued
// after the revocation: the merchant connected again (a webhook can arrive
// late, or twice), and the new grant is left alone.
var ErrReconnectedSince = errors.New("square: the merchant connected again after the revocation; nothing buried")

// reconnectSkew is how much later than revoked_at a stored token must have
// been issued to count as a new connection: Square's clock and ours differ
// (by milliseconds where both keep NTP time). It is kept short: a seller
// who connects again within it, before the webhook arrives, loses the new
// grant, while a revoked token issued within it is merely kept until its
// first use fails.
const reconnectSkew = 5 * time.Second

// Bury verifies webhook request r (see [VerifyRevokedWebhook]) and marks
// its merchant revoked in store, in one call: a tombstone (see
// ucoauth.Tombstoner) replaces the merchant's token, so that no process
// holding the grant in memory can save it back, or the key is deleted when
// store keeps no tombstones. Then m, when not nil, forgets the merchant's
// source. Square revoked the tokens already: nothing is sent to Square.
//
// A stored token issued after the revocation belongs to a new connection:
// it is kept, and the error is [ErrReconnectedSince]. A key that holds
// nothing is not an error; a store outage while reading it buries nothing
// (a new connection cannot be told) and is the error. Nothing is read from r's body, nor done, before
// its signature holds; answer Square 2xx unless the error is a store's
// (then Square retries the webhook).
func (w Webhook) Bury(ctx context.Context, r *http.Request, store ucoauth.TokenStore, m *ucoauth.Manager) (*Revocation, error) {
	rev, err := VerifyRevokedWebhook(r, w.SignatureKey, w.NotificationURL)
	if err != nil {
		return nil, err
	}
	key := rev.MerchantID
	if w.Key != nil {
		key = w.Key(rev.MerchantID)
	}
	if err := bury(ctx, store, key, rev.RevokedAt); err != nil {
		return rev, err
	}
	if m != nil {
		m.Forget(key)
	}
	return rev, nil
}

// bury tombstones key unless its token was issued after revokedAt.
func bury(ctx context.Context, store ucoauth.TokenStore, key string, revokedAt time.Time) error {
	tok, err := store.Load(ctx, key)
	switch {
	case errors.Is(err, ucoauth.ErrTokenNotFound):
		return nil // nothing stored, or buried already
	case err != nil && !permanent(err):
		// An outage: without the stored token a new connection cannot be
		// told, so nothing is buried and Square retries the webhook.
		return fmt.Errorf("square: reading the revoked merchant's token: %w", err)
	case err == nil && !revokedAt.IsZero() && tok.ExpiresIn > 0:
		issued := tok.Expiry.Add(-time.Duration(tok.ExpiresIn) * time.Second)
		if issued.After(revokedAt.Add(reconnectSkew)) {
			return ErrReconnectedSince
		}
	}
	// A record that cannot be read (sealed with a key this process lacks)
	// is buried too: the merchant revoked the application.
	if t, ok := store.(ucoauth.Tombstoner); ok {
		err = t.Tombstone(ctx, key)
		if !errors.Is(err, errors.ErrUnsupported) {
			if err != nil {
				return fmt.Errorf("square: burying the revoked merchant: %w", err)
			}
			return nil
		}
	}
	if err := store.Delete(ctx, key); err != nil && !errors.Is(err, ucoauth.ErrTokenNotFound) {
		return fmt.Errorf("square: deleting the revoked merchant's token: %w", err)
	}
	return nil
}

// permanent reports an error that says retrying cannot cure it (a record
// that cannot be opened or is corrupt); anything else is taken for an
// outage, as ucoauth.StoreError.Temporary does.
func permanent(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && !t.Temporary()
}

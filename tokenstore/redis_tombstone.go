package tokenstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// Tombstone replaces key's record with a tombstone, in a WATCH/MULTI
// transaction like Save's; see ucoauth.Tombstoner. The tombstone expires
// by a TTL of TombstoneRetention (or the record TTL, when longer).
func (r *Redis) Tombstone(ctx context.Context, key string, grants ...string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	rk := r.key(key, "token")
	ttl := max(r.ttl, TombstoneRetention)
	pause := 5 * time.Millisecond
	for range 16 { // optimistic: retry when a save slipped in
		ran := false
		err := r.c.Watch(ctx, func(tx *redis.Tx) error {
			b, err := tx.Get(ctx, rk).Bytes()
			switch {
			case errors.Is(err, redis.Nil), isWrongType(err):
				b = nil
			case err != nil:
				return err
			}
			nb, err := encodeTombstone(key, b, grants, time.Now())
			if err != nil {
				return err
			}
			var set *redis.StatusCmd
			if _, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				set = p.Set(ctx, rk, nb, ttl)
				return nil
			}); err != nil {
				return err
			}
			if set.Val() != "OK" {
				return ErrUnconfirmed
			}
			ran = true
			return r.awaitReplicas(ctx, tx)
		}, rk)
		switch {
		case err == nil && ran:
			return nil
		case err == nil, errors.Is(err, redis.TxFailedErr), errors.Is(err, ErrUnconfirmed):
			err = ErrUnconfirmed
		case errors.Is(err, ErrInvalidToken), errors.Is(err, ErrNewerFormat), errors.Is(err, ErrInvalidKey),
			errors.Is(err, ErrNotReplicated), errors.Is(err, ucoauth.ErrRevoked):
			return err
		default:
			return fmt.Errorf("tokenstore: redis: %w", err)
		}
		if !sleep(ctx, pause) {
			return fmt.Errorf("%w: %w", err, ctx.Err())
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
	return fmt.Errorf("%w: too much contention, or the slot kept moving", ErrUnconfirmed)
}

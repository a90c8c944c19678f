package redisstore

import (
	"context"
	"time"

	"github.com/ucoauth/go-ucoauth/internal/record"
)

// Tombstone replaces key's record with a tombstone, in a WATCH/MULTI
// transaction like Save's; see ucoauth.Tombstoner. The tombstone expires
// by a TTL of tokenstore.TombstoneRetention (or the record TTL, when
// longer).
func (r *Store) Tombstone(ctx context.Context, key string, grants ...string) error {
	return r.compareAndSet(ctx, key, max(r.ttl, record.TombstoneRetention), func(old []byte) ([]byte, error) {
		return record.EncodeTombstone(key, old, grants, time.Now())
	})
}

package sqlstore

import (
	"context"
	"time"

	"github.com/ucoauth/go-ucoauth/internal/record"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// Tombstones, and pruning the expired ones. Uses cas.go and table.go.

var _ ucoauth.Tombstoner = (*Store)(nil)

// Tombstone replaces key's record with a tombstone, by the same
// compare-and-set on the revision as Save; see ucoauth.Tombstoner. Its
// expiry_ms is 0.
func (s *Store) Tombstone(ctx context.Context, key string, grants ...string) error {
	if err := record.CheckKey(key); err != nil {
		return err
	}
	return s.compareAndSet(ctx, "tombstone", key, 0, func(old []byte) ([]byte, error) {
		return record.EncodeTombstone(key, old, grants, time.Now())
	})
}

// expiredRow is a row holding an expired tombstone, at the revision read.
type expiredRow struct {
	hash []byte
	rev  int64
}

// keysQuery lists every row with its record and revision, for Keys.
func (s *Store) keysQuery() string {
	return "SELECT key_hash, store_key, record, revision FROM " + quoteIdent(s.dialect, s.table)
}

// prune deletes the rows of expired tombstones that are still at the
// revision Keys read: a save since then is left alone.
func (s *Store) prune(ctx context.Context, rows []expiredRow) error {
	q := "DELETE FROM " + quoteIdent(s.dialect, s.table) + " WHERE key_hash = ? AND revision = ?"
	if s.dialect == Postgres {
		q = "DELETE FROM " + quoteIdent(s.dialect, s.table) + " WHERE key_hash = $1 AND revision = $2"
	}
	for _, r := range rows {
		if err := s.retry(ctx, func() error { _, err := s.db.ExecContext(ctx, q, r.hash, r.rev); return err }); err != nil {
			return err
		}
	}
	return nil
}

package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ucoauth/go-ucoauth/internal/record"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// Tombstones, and pruning the expired ones. Uses table.go.

var _ ucoauth.Tombstoner = (*Store)(nil)

// Tombstone replaces key's record with a tombstone, by the same
// compare-and-set on the revision as Save; see ucoauth.Tombstoner. Its
// expiry_ms is 0.
func (s *Store) Tombstone(ctx context.Context, key string, grants ...string) error {
	if err := record.CheckKey(key); err != nil {
		return err
	}
	h := keyHash(key)
	for range 64 { // optimistic: retry when a save slipped in
		var old []byte
		var rev int64
		err := s.retry(ctx, func() error { return s.db.QueryRowContext(ctx, s.q.loadRev, h).Scan(&old, &rev) })
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return s.wrap("tombstone", err)
		}
		if !exists {
			old = nil
		}
		rec, err := record.EncodeTombstone(key, old, grants, time.Now())
		if err != nil {
			return err
		}
		if s.dialect == MySQL && len(rec) > mysqlMaxBlob {
			return fmt.Errorf("%w: the tombstone is %d bytes, more than a MySQL MEDIUMBLOB holds", record.ErrInvalidToken, len(rec))
		}
		now := time.Now().UnixMilli()
		if !exists {
			err := s.retry(ctx, func() error {
				_, err := s.db.ExecContext(ctx, s.q.insert, h, []byte(key), rec, int64(0), now)
				return err
			})
			if err == nil {
				return nil
			}
			if uniqueViolation(err) {
				continue // a save created the row first: start over
			}
			var one int64
			if perr := s.retry(ctx, func() error { return s.db.QueryRowContext(ctx, s.q.loadRev, h).Scan(&old, &one) }); perr != nil {
				return s.wrap("tombstone", withoutRecord(err, rec))
			}
			continue
		}
		var n int64
		err = s.retry(ctx, func() error {
			res, err := s.db.ExecContext(ctx, s.q.update, rec, int64(0), now, h, rev)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return s.wrap("tombstone", withoutRecord(err, rec))
		}
		if n == 1 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return s.wrap("tombstone", err)
		}
	}
	return errors.New("sqlstore: too much contention writing the tombstone")
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

package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ucoauth/go-ucoauth/internal/record"
)

// The compare-and-set on a row's revision that Save and Tombstone share.
// Uses table.go, schema.go and errors.go.

// compareAndSet replaces key's record with what encode makes of the stored
// one (nil when the key has no row), with expiry (Unix ms, 0 for none) in
// the expiry_ms column: an UPDATE that matches only the revision read, or
// an INSERT that fails if another write created the row first, retried
// from the read when another write slipped in. op names the operation in
// errors ("save", "tombstone"); a database error quoting the record is
// scrubbed of it.
func (s *Store) compareAndSet(ctx context.Context, op, key string, expiry int64, encode func(old []byte) ([]byte, error)) error {
	h := keyHash(key)
	for range 64 { // optimistic: retry when another write slipped in
		var old []byte
		var rev int64
		err := s.retry(ctx, func() error { return s.db.QueryRowContext(ctx, s.q.loadRev, h).Scan(&old, &rev) })
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return s.wrap(op, err)
		}
		if !exists {
			old = nil
		}
		rec, err := encode(old)
		if err != nil {
			return err
		}
		if s.dialect == MySQL && len(rec) > mysqlMaxBlob {
			// A lax sql_mode would cut it short without an error.
			return fmt.Errorf("%w: the record is %d bytes, more than a MySQL MEDIUMBLOB holds", record.ErrInvalidToken, len(rec))
		}
		now := time.Now().UnixMilli()
		if !exists {
			err := s.retry(ctx, func() error {
				_, err := s.db.ExecContext(ctx, s.q.insert, h, []byte(key), rec, expiry, now)
				return err
			})
			if err == nil {
				return nil
			}
			// Another write inserted the row first (and a delete may have
			// removed it again since): start over from the read. Any other
			// error is real, unless the row is there now.
			if uniqueViolation(err) {
				continue
			}
			var one int64
			if perr := s.retry(ctx, func() error { return s.db.QueryRowContext(ctx, s.q.loadRev, h).Scan(&old, &one) }); perr != nil {
				return s.wrap(op, withoutRecord(err, rec))
			}
			continue
		}
		var n int64
		err = s.retry(ctx, func() error {
			res, err := s.db.ExecContext(ctx, s.q.update, rec, expiry, now, h, rev)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return s.wrap(op, withoutRecord(err, rec))
		}
		if n == 1 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return s.wrap(op, err)
		}
	}
	return fmt.Errorf("sqlstore: %s: too much contention writing the record", op)
}

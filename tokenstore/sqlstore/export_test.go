package sqlstore

import (
	"context"
	"time"
)

// Plant writes raw as key's record in s, bypassing Save.
func Plant(ctx context.Context, s *Store, key string, raw []byte) error {
	h := keyHash(key)
	if _, err := s.db.ExecContext(ctx, s.q.del, h); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, s.q.insert, h, []byte(key), raw, int64(0), time.Now().UnixMilli())
	return err
}

// TableName is s's table, as given to WithTable.
func TableName(s *Store) string { return s.tableName() }

// SetAfterGrant runs f between a session lock's grant and the settings
// that keep its session, until restore is called.
func SetAfterGrant(f func()) (restore func()) {
	afterGrant = f
	return func() { afterGrant = nil }
}

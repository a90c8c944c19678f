package tokenstore

import (
	"context"
	"time"
)

// PlantMemory puts raw bytes in m as key's record, as another build or a
// damaged disk could leave them, for the conformance suite's Plant hook.
func PlantMemory(m *Memory, key string, raw []byte) {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	m.s.data[key] = append([]byte(nil), raw...)
}

// RedisTokenKey is the Redis key that holds key's record in r.
func RedisTokenKey(r *Redis, key string) string { return r.key(key, "token") }

// PlantSQL writes raw as key's record in s, bypassing Save.
func PlantSQL(ctx context.Context, s *SQL, key string, raw []byte) error {
	h := keyHash(key)
	if _, err := s.db.ExecContext(ctx, s.q.del, h); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, s.q.insert, h, []byte(key), raw, int64(0), time.Now().UnixMilli())
	return err
}

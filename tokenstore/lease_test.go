package tokenstore_test

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/redistest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// checkLease takes key's lease in s, checks that Keep confirms it, lets
// lose take it away (nil: only Release), and checks that Keep then says
// ErrLockLost and that the lock is free again once the other holder, if
// lose made one, let it go (the func lose returns).
func checkLease(t *testing.T, s ucoauth.TokenStore, lose func() func()) {
	ll, ok := s.(ucoauth.LeaseLocker)
	require.True(t, ok, "%T is a LeaseLocker", s)
	l, err := ll.LockLease(t.Context(), "K")
	require.NoError(t, err)
	assert.NoError(t, l.Keep(t.Context()), "held")
	assert.NoError(t, l.Keep(t.Context()), "still held")
	if lose != nil {
		other := lose()
		assert.ErrorIs(t, l.Keep(t.Context()), ucoauth.ErrLockLost, "lost")
		if other != nil {
			defer other()
		}
	}
	l.Release()
	l.Release() // twice is fine
	assert.ErrorIs(t, l.Keep(t.Context()), ucoauth.ErrLockLost, "released")
	if lose != nil {
		return // another holder may hold it
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	unlock, err := ll.Lock(ctx, "K")
	require.NoError(t, err, "free again")
	unlock()
}

func TestLeaseMemory(t *testing.T) { checkLease(t, tokenstore.NewMemory(), nil) }

func TestLeaseFile(t *testing.T) {
	dir := t.TempDir()
	s, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	checkLease(t, s, nil)
	checkLease(t, s, func() func() {
		// The lock file removed while held: another process would lock a
		// new one.
		locks, err := filepath.Glob(filepath.Join(dir, "*.lock"))
		require.NoError(t, err)
		for _, p := range locks {
			if filepath.Base(p) != ".write.lock" {
				require.NoError(t, os.Remove(p))
			}
		}
		return nil
	})
}

func TestLeaseRedis(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.TestClient(t)
	s := tokenstore.NewRedis(c, tokenstore.WithKeyPrefix("lease:"), tokenstore.WithLockTTL(time.Minute))
	checkLease(t, s, nil)
	checkLease(t, s, func() func() {
		// Another holder's value: the lock expired and was taken.
		require.NoError(t, c.Set(t.Context(), "lease:{K}:lock", "someone else", time.Minute).Err())
		return func() { require.NoError(t, c.Del(t.Context(), "lease:{K}:lock").Err()) }
	})

	// Keep extends a lease that would expire.
	l, err := s.LockLease(t.Context(), "K")
	require.NoError(t, err)
	defer l.Release()
	require.NoError(t, c.PExpire(t.Context(), "lease:{K}:lock", time.Second).Err())
	require.NoError(t, l.Keep(t.Context()))
	ttl, err := c.PTTL(t.Context(), "lease:{K}:lock").Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 30*time.Second, "the lock TTL again")
}

func TestLeaseSQL(t *testing.T) {
	for name, newEnv := range map[string]func(testing.TB) sqlEnv{"sqlite": sqliteEnv, "postgres": postgresEnv, "mariadb": mariadbEnv} {
		t.Run(name, func(t *testing.T) {
			env := newEnv(t)
			dsn := env.newDSN(t)
			db := env.open(t, dsn)
			table := uniqueTable("lease")
			s, err := tokenstore.NewSQL(t.Context(), db, env.dialect, tokenstore.WithTable(table))
			require.NoError(t, err)
			checkLease(t, s, nil)
			checkLease(t, s, func() func() {
				switch env.dialect {
				case tokenstore.SQLite: // the lease expired and another holder took it
					_, err := db.ExecContext(t.Context(), "UPDATE "+table+"_locks SET owner = x'00'")
					require.NoError(t, err)
					return func() {
						_, err := db.ExecContext(t.Context(), "DELETE FROM "+table+"_locks")
						require.NoError(t, err)
					}
				case tokenstore.Postgres: // the lock's session killed
					var n int
					require.NoError(t, db.QueryRowContext(t.Context(), "SELECT count(pg_terminate_backend(pid)) FROM pg_locks "+
						"WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()").Scan(&n))
					require.Equal(t, 1, n)
				case tokenstore.MySQL: // every other session of this pool killed, the lock's among them
					conn, err := db.Conn(t.Context())
					require.NoError(t, err)
					defer conn.Close()
					rows, err := conn.QueryContext(t.Context(), "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Daemon' AND DB = DATABASE()")
					require.NoError(t, err)
					var ids []string
					for rows.Next() {
						var id string
						require.NoError(t, rows.Scan(&id))
						ids = append(ids, id)
					}
					require.NoError(t, rows.Close())
					for _, id := range ids {
						_, _ = conn.ExecContext(t.Context(), "KILL "+id)
					}
				}
				return nil
			})
		})
	}
}

func TestLeaseSealKeepsLeaseLocker(t *testing.T) {
	secret := make([]byte, tokenstore.SealKeySize)
	_, err := rand.Read(secret)
	require.NoError(t, err)
	key := tokenstore.SealKey{ID: "k", Secret: secret}
	s, err := tokenstore.Seal(tokenstore.NewMemory(), key)
	require.NoError(t, err)
	checkLease(t, s, nil)
	f, err := tokenstore.NewFile(t.TempDir())
	require.NoError(t, err)
	s, err = tokenstore.Seal(f, key)
	require.NoError(t, err)
	checkLease(t, s, nil)
	_, isLister := s.(ucoauth.Lister)
	assert.True(t, isLister)
}

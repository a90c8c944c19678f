package ucoauth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/internal/testservers/sqltest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// TestLockWaiterAdoptsTheHoldersToken: a source whose token expired waits
// for the refresh lock that another process holds; that process saves a
// fresh token and keeps the lock. The waiter adopts the saved token without
// the lock and without a token request, as its look before locking would
// have. Before, every waiter of a fleet took the lock in turn only to read
// the holder's token: on 2 loaded cores 8 processes took 2 s to file
// through, and callers of TestSQLFleetPostgres saw their waits run out.
func TestLockWaiterAdoptsTheHoldersToken(t *testing.T) {
	stores := map[string]func(t *testing.T) ucoauth.TokenStore{
		"memory": func(*testing.T) ucoauth.TokenStore { return tokenstore.NewMemory() },
		"redis": func(t *testing.T) ucoauth.TokenStore {
			return tokenstore.NewRedis(redistest.Start(t).TestClient(t))
		},
		"postgres": func(t *testing.T) ucoauth.TokenStore {
			return openSQLStore(t, sqltest.NewPostgres(t), tokenstore.Postgres)
		},
		"mariadb": func(t *testing.T) ucoauth.TokenStore { return openSQLStore(t, sqltest.NewMariaDB(t), tokenstore.MySQL) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			store := open(t)
			srv := ucoauthtest.NewServer()
			defer srv.Close()
			srv.SetRotation(true)
			old := srv.Issue("DEMO")
			old.Expiry = time.Now().Add(-time.Minute) // expired: the source must refresh or adopt
			require.NoError(t, store.Save(t.Context(), "DEMO", old))

			unlock, err := store.(ucoauth.Locker).Lock(t.Context(), "DEMO") // the other process
			require.NoError(t, err)
			defer unlock()

			waiting := &lockEntered{TokenStore: store, entered: make(chan struct{})}
			cfg := srv.Config()
			// A refresh timeout long enough that the wait would not end on its
			// own during the test.
			src := ucoauth.NewTokenSource(cfg, waiting, "DEMO", ucoauth.WithRefreshTimeout(15*time.Second))
			defer src.Close()
			type result struct {
				tok string
				err error
			}
			got := make(chan result, 1)
			go func() {
				tok, err := src.TokenContext(context.Background())
				if err != nil {
					got <- result{err: err}
					return
				}
				got <- result{tok: tok.AccessToken}
			}()
			<-waiting.entered // the source looked, found the expired token, and waits for the lock

			fresh := srv.Issue("DEMO") // the holder's refresh, saved while it holds the lock
			require.NoError(t, store.Save(t.Context(), "DEMO", fresh))
			r := <-got
			require.NoError(t, r.err)
			assert.Equal(t, fresh.AccessToken, r.tok, "the waiter serves the holder's token")
			assert.Zero(t, srv.Stats().Refreshes(), "no token request: the holder's token was adopted")
		})
	}
}

func openSQLStore(t *testing.T, s *sqltest.Server, d tokenstore.Dialect) ucoauth.TokenStore {
	db, err := s.Open()
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	store, err := tokenstore.NewSQL(t.Context(), db, d, tokenstore.WithTable("lockwait_tokens"))
	require.NoError(t, err)
	return store
}

// lockEntered is a store whose Lock says when it is first called, and then
// waits for the store's own lock.
type lockEntered struct {
	ucoauth.TokenStore
	once    sync.Once
	entered chan struct{}
}

func (l *lockEntered) Lock(ctx context.Context, key string) (func(), error) {
	l.once.Do(func() { close(l.entered) })
	return l.TokenStore.(ucoauth.Locker).Lock(ctx, key)
}

package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
)

// testLocksLeaveRoomForSaves: a pool limited to a few connections, and
// more merchants refreshing at once than it has: every refresh (lock, load,
// save, unlock) must still get through. A session lock holds a connection,
// so locks taking the whole pool would leave no connection for the saves
// they wait to make, and every refresh would hang until its context ends.
func testLocksLeaveRoomForSaves(t *testing.T, env sqlEnv) {
	db := env.open(t, env.newDSN(t))
	s, err := sqlstore.New(t.Context(), db, env.dialect, sqlstore.WithTable(uniqueTable("pool")))
	require.NoError(t, err)
	db.SetMaxOpenConns(3)
	exp := time.Now().Add(time.Hour)
	c, cancel := context.WithTimeout(t.Context(), 60*time.Second) // bounds a hang only
	defer cancel()
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			key := fmt.Sprintf("m%d", i)
			unlock, err := s.Lock(c, key)
			if !assert.NoError(t, err, key) {
				return
			}
			defer unlock()
			time.Sleep(20 * time.Millisecond) // the refresh's round trip
			_, _ = s.Load(c, key)
			assert.NoError(t, s.Save(c, key, storetest.Token("at-"+key, exp)), key)
		})
	}
	wg.Wait()
}

func TestSQLPostgresLocksLeaveRoomForSaves(t *testing.T) {
	testLocksLeaveRoomForSaves(t, postgresEnv(t))
}
func TestSQLMariaDBLocksLeaveRoomForSaves(t *testing.T) { testLocksLeaveRoomForSaves(t, mariadbEnv(t)) }
func TestSQLSQLiteLocksLeaveRoomForSaves(t *testing.T)  { testLocksLeaveRoomForSaves(t, sqliteEnv(t)) }

// testPoolOfOne: a pool of one connection cannot hold a lock and save
// under it; Lock says so at once instead of hanging the first refresh.
func testPoolOfOne(t *testing.T, env sqlEnv) {
	db := env.open(t, env.newDSN(t))
	s, err := sqlstore.New(t.Context(), db, env.dialect, sqlstore.WithTable(uniqueTable("one")))
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	_, err = s.Lock(t.Context(), "m")
	require.ErrorIs(t, err, sqlstore.ErrPoolTooSmall)
	var temp interface{ Temporary() bool }
	require.ErrorAs(t, err, &temp)
	assert.False(t, temp.Temporary(), "retrying cannot cure it")
	db.SetMaxOpenConns(2)
	unlock, err := s.Lock(t.Context(), "m")
	require.NoError(t, err, "two connections are enough")
	require.NoError(t, s.Save(t.Context(), "m", storetest.Token("at", time.Now().Add(time.Hour))))
	unlock()
}

func TestSQLPostgresPoolOfOne(t *testing.T) { testPoolOfOne(t, postgresEnv(t)) }
func TestSQLMariaDBPoolOfOne(t *testing.T)  { testPoolOfOne(t, mariadbEnv(t)) }

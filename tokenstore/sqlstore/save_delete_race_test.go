package sqlstore_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// testSaveRacingDelete: saves and deletes of one key interleave without
// errors, and the last save is readable after the last delete.
func testSaveRacingDelete(t *testing.T, env sqlEnv) {
	dsn := env.newDSN(t)
	table := uniqueTable("race")
	a, err := sqlstore.New(t.Context(), env.open(t, dsn), env.dialect, sqlstore.WithTable(table))
	require.NoError(t, err)
	b, err := sqlstore.New(t.Context(), env.open(t, dsn), env.dialect, sqlstore.WithTable(table))
	require.NoError(t, err)
	base := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if i%3 == 0 {
				assert.NoError(t, b.Delete(t.Context(), "m"))
				return
			}
			err := a.Save(t.Context(), "m", storetest.Token(fmt.Sprintf("at-%d", i), base.Add(time.Duration(i)*time.Second)))
			if !errors.Is(err, ucoauth.ErrSuperseded) {
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.NoError(t, a.Save(t.Context(), "m", storetest.Token("last", base.Add(time.Hour))))
	got, err := b.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, "last", got.AccessToken)
}

func TestSQLSQLiteSaveRacingDelete(t *testing.T) { testSaveRacingDelete(t, sqliteEnv(t)) }

func TestSQLPostgresSaveRacingDelete(t *testing.T) { testSaveRacingDelete(t, postgresEnv(t)) }

func TestSQLMariaDBSaveRacingDelete(t *testing.T) { testSaveRacingDelete(t, mariadbEnv(t)) }

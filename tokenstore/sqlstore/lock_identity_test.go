package sqlstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
)

// One table under two spellings derives one refresh lock: a second store
// naming the table another way waits for the first one's lock on a key.
// Two tables derive two locks.
func testLockIdentityFollowsTable(t *testing.T, env sqlEnv, qualify func(db, table string) string) {
	db := env.open(t, env.newDSN(t))
	table := uniqueTable("Spell")
	a, err := sqlstore.New(t.Context(), db, env.dialect, sqlstore.WithTable(table))
	require.NoError(t, err)
	var schema string
	if env.dialect == sqlstore.Postgres {
		require.NoError(t, db.QueryRowContext(t.Context(), "SELECT current_schema()").Scan(&schema))
	} else {
		require.NoError(t, db.QueryRowContext(t.Context(), "SELECT DATABASE()").Scan(&schema))
	}
	other := env.open(t, env.newDSN(t)) // another process's pool
	b, err := sqlstore.New(t.Context(), other, env.dialect, sqlstore.WithTable(qualify(schema, table)), sqlstore.WithExistingTable())
	require.NoError(t, err, "the qualified spelling names the same table")

	unlock, err := a.Lock(t.Context(), "M")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	wrong, err := b.Lock(ctx, "M")
	cancel()
	if !assert.ErrorIs(t, err, context.DeadlineExceeded, "%s and %s are one table: the second store waits for the first one's lock", table, sqlstore.TableName(b)) && err == nil {
		wrong()
	}
	unlock()
	unlockB, err := b.Lock(t.Context(), "M")
	require.NoError(t, err, "free once the first store released it")
	unlockB()

	// Another table (the name in another letter case, which the quoted
	// identifier keeps apart) has a lock of its own.
	lower := strings.ToLower(table)
	c, err := sqlstore.New(t.Context(), other, env.dialect, sqlstore.WithTable(lower))
	require.NoError(t, err)
	unlock, err = a.Lock(t.Context(), "M")
	require.NoError(t, err)
	defer unlock()
	var fold int64
	if env.dialect == sqlstore.MySQL {
		require.NoError(t, db.QueryRowContext(t.Context(), "SELECT @@lower_case_table_names").Scan(&fold))
	}
	if fold == 0 {
		ctx, cancel = context.WithTimeout(t.Context(), 5*time.Second)
		unlockC, err := c.Lock(ctx, "M")
		cancel()
		require.NoError(t, err, "%s and %s are two tables, with two locks", table, lower)
		unlockC()
	} else {
		ctx, cancel = context.WithTimeout(t.Context(), 300*time.Millisecond)
		wrong, err := c.Lock(ctx, "M")
		cancel()
		if err == nil {
			wrong()
		}
		assert.ErrorIs(t, err, context.DeadlineExceeded, "lower_case_table_names=%d: %s and %s are one table", fold, table, lower)
	}
}

func TestSQLPostgresLockIdentityFollowsTable(t *testing.T) {
	env := postgresEnv(t)
	testLockIdentityFollowsTable(t, env, func(schema, table string) string { return schema + "." + table })
}

func TestSQLMariaDBLockIdentityFollowsTable(t *testing.T) {
	env := mariadbEnv(t)
	testLockIdentityFollowsTable(t, env, func(db, table string) string { return db + "." + table })
}

// A spelling no server resolves to a table is refused, quoted or not.
func TestSQLLockIdentityRefusesUnresolvable(t *testing.T) {
	env := postgresEnv(t)
	db := env.open(t, env.newDSN(t))
	for _, name := range []string{`"quoted"`, "no_such_schema." + uniqueTable("t"), "a.b.c"} {
		_, err := sqlstore.New(t.Context(), db, env.dialect, sqlstore.WithTable(name), sqlstore.WithExistingTable())
		assert.ErrorIs(t, err, sqlstore.ErrInvalidTable, "%s", name)
	}
}

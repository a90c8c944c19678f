package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
)

// testHolderConnectionKilled: the server kills the holder's session
// (pg_terminate_backend, KILL): the lock frees, and the holder's unlock
// neither hangs nor hands a broken session back to its pool. holderOf
// asks the server which session holds key "m"'s lock in table.
func testHolderConnectionKilled(t *testing.T, env sqlEnv, holderOf func(table string) (string, []any), kill string) {
	table := uniqueTable("killconn")
	holder, err := sqlstore.New(t.Context(), env.open(t, ""), env.dialect, sqlstore.WithTable(table))
	require.NoError(t, err)
	other, err := sqlstore.New(t.Context(), env.open(t, ""), env.dialect, sqlstore.WithTable(table))
	require.NoError(t, err)
	admin := env.open(t, "")

	unlock, err := holder.Lock(t.Context(), "m")
	require.NoError(t, err)
	var id int64
	q, args := holderOf(table)
	require.NoError(t, admin.QueryRow(q, args...).Scan(&id), "the server names the holder's session")

	short, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err = other.Lock(short, "m")
	require.Error(t, err, "precondition: the lock is held")

	_, err = admin.Exec(fmt.Sprintf(kill, id))
	require.NoError(t, err)

	c, cancel2 := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel2()
	u2, err := other.Lock(c, "m")
	require.NoError(t, err, "a killed session's lock frees")
	unlock() // must not hang or panic
	// the holder still works, on a fresh session
	require.NoError(t, holder.Save(t.Context(), "m", storetest.Token("at-after", time.Now().Add(time.Hour))))
	short2, cancel3 := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel3()
	_, err = holder.Lock(short2, "m")
	require.Error(t, err, "the other store holds it now; the holder's old unlock freed nothing")
	u2()
}

func TestSQLPostgresHolderConnectionKilled(t *testing.T) {
	testHolderConnectionKilled(t, postgresEnv(t), func(string) (string, []any) {
		// This package's tests run one at a time: one advisory lock is held.
		return "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted", nil
	}, "SELECT pg_terminate_backend(%d)")
}

func TestSQLMariaDBHolderConnectionKilled(t *testing.T) {
	testHolderConnectionKilled(t, mariadbEnv(t), func(table string) (string, []any) {
		// The lock's name: the table as the server resolves it (the
		// database of sqltest's DSN, "ucoauth", and the table), and the key.
		sum := sha256.Sum256([]byte("ucoauth\x00ucoauth." + table + "\x00m"))
		return "SELECT IS_USED_LOCK(?)", []any{"ucoauth_" + hex.EncodeToString(sum[:28])}
	}, "KILL %d")
}

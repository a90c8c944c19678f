package sqlstore_test

import (
	"bytes"
	"encoding/base64"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/square/squaretest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// squareSealKey seals the Square tests' stores and their peers alike.
var squareSealKey = func() tokenstore.SealKey {
	keys, err := tokenstore.ParseSealKeys("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7, 9}, 16)))
	if err != nil {
		panic(err)
	}
	return keys[0]
}()

// sealedOrNot wraps s in tokenstore.Seal when seal is set.
func sealedOrNot(t testing.TB, s ucoauth.TokenStore, seal bool) ucoauth.TokenStore {
	if !seal {
		return s
	}
	w, err := tokenstore.Seal(s, squareSealKey)
	require.NoError(t, err)
	return w
}

// runSquareSQLConformance is runSQLConformance with Square's tokens (30-day
// lifetimes, the merchant's ID and the other kept extras), each store
// sealed when seal is set (then without Plant: a planted record is not
// sealed).
func runSquareSQLConformance(t *testing.T, env sqlEnv, seal bool) {
	const leaseTTL = 3 * time.Second
	var mu sync.Mutex
	inner := map[ucoauth.TokenStore]*sqlStore{}
	keep := func(w ucoauth.TokenStore, s *sqlStore) ucoauth.TokenStore {
		mu.Lock()
		defer mu.Unlock()
		inner[w] = s
		return w
	}
	innerOf := func(w ucoauth.TokenStore) *sqlStore { mu.Lock(); defer mu.Unlock(); return inner[w] }
	h := storetest.Harness{
		Token: squaretest.Token,
		New: func(t *testing.T) ucoauth.TokenStore {
			dsn := env.newDSN(t)
			s, err := sqlstore.New(t.Context(), env.open(t, dsn), env.dialect,
				sqlstore.WithTable(uniqueTable("sqconf")), sqlstore.WithLeaseTTL(leaseTTL))
			require.NoError(t, err)
			st := &sqlStore{Store: s, dsn: dsn}
			return keep(sealedOrNot(t, st, seal), st)
		},
		Peer: func(t *testing.T, s ucoauth.TokenStore) ucoauth.TokenStore {
			first := innerOf(s)
			db, cut := env.openCuttable(t, first.dsn)
			peer, err := sqlstore.New(t.Context(), db, env.dialect,
				sqlstore.WithTable(sqlstore.TableName(first.Store)), sqlstore.WithLeaseTTL(leaseTTL), sqlstore.WithExistingTable())
			require.NoError(t, err)
			st := &sqlStore{Store: peer, dsn: first.dsn, cut: cut}
			return keep(sealedOrNot(t, st, seal), st)
		},
		Abandon: func(t *testing.T, s ucoauth.TokenStore) { innerOf(s).cut() },
		LockTTL: leaseTTL,
	}
	if !seal {
		h.Plant = func(t *testing.T, s ucoauth.TokenStore, key string, raw []byte) {
			require.NoError(t, sqlstore.Plant(t.Context(), innerOf(s).Store, key, raw))
		}
	}
	storetest.Run(t, h)
}

func testSquareTokensConformance(t *testing.T, env sqlEnv) {
	t.Logf("database: %s", env.server)
	t.Run("Plain", func(t *testing.T) { runSquareSQLConformance(t, env, false) })
	t.Run("Sealed", func(t *testing.T) { runSquareSQLConformance(t, env, true) })
}

func TestSQLSQLiteSquareTokensConformance(t *testing.T) {
	testSquareTokensConformance(t, sqliteEnv(t))
}
func TestSQLPostgresSquareTokensConformance(t *testing.T) {
	testSquareTokensConformance(t, postgresEnv(t))
}
func TestSQLMariaDBSquareTokensConformance(t *testing.T) {
	testSquareTokensConformance(t, mariadbEnv(t))
}

// testSquareTokenRoundTrips: a Square token with 29 days left comes back
// through another handle, sealed and not, with its expiry, its granted
// lifetime (Webhook.Bury tells a reconnected merchant by it) and its
// extras; sealed, the stored record holds no token in the clear, and the
// extras stay readable.
func testSquareTokenRoundTrips(t *testing.T, env sqlEnv) {
	for _, seal := range []bool{false, true} {
		dsn := env.newDSN(t)
		table := uniqueTable("sqrt")
		db := env.open(t, dsn)
		s, err := sqlstore.New(t.Context(), db, env.dialect, sqlstore.WithTable(table))
		require.NoError(t, err)
		exp := time.Now().Add(square.AccessTokenLifetime - time.Hour)
		tok := squaretest.Token("EAAAsq-access-token-0001", exp)
		require.NoError(t, sealedOrNot(t, s, seal).Save(t.Context(), "M1", tok))

		other, err := sqlstore.New(t.Context(), env.open(t, dsn), env.dialect, sqlstore.WithTable(table), sqlstore.WithExistingTable())
		require.NoError(t, err)
		got, err := sealedOrNot(t, other, seal).Load(t.Context(), "M1")
		require.NoError(t, err)
		assert.True(t, exp.Round(0).Equal(got.Expiry), "sealed %v: a 29-day expiry is trusted as it is: %v", seal, got.Expiry)
		assert.Equal(t, tok.ExpiresIn, got.ExpiresIn, "sealed %v: the granted lifetime", seal)
		assert.Equal(t, ucoauth.ProviderExtras(tok), ucoauth.ProviderExtras(got), "sealed %v", seal)
		assert.Equal(t, "MLEAAAsq-access-token-0001", square.MerchantID(got))
		assert.WithinDuration(t, exp.Add(square.PKCERefreshTokenLifetime), square.RefreshTokenExpiry(got), time.Second)

		var raw []byte
		require.NoError(t, db.QueryRowContext(t.Context(), "SELECT record FROM "+table).Scan(&raw))
		assert.Contains(t, string(raw), "MLEAAAsq-access-token-0001", "the extras are readable in the record")
		if seal {
			// (the merchant's ID, "ML" + the access token, is no token)
			assert.NotContains(t, string(raw), `"EAAAsq-access-token-0001"`, "the access token is sealed")
			assert.NotContains(t, string(raw), "rt-EAAAsq", "the refresh token is sealed")
		}
	}
}

func TestSQLSQLiteSquareTokenRoundTrips(t *testing.T)   { testSquareTokenRoundTrips(t, sqliteEnv(t)) }
func TestSQLPostgresSquareTokenRoundTrips(t *testing.T) { testSquareTokenRoundTrips(t, postgresEnv(t)) }
func TestSQLMariaDBSquareTokenRoundTrips(t *testing.T)  { testSquareTokenRoundTrips(t, mariadbEnv(t)) }

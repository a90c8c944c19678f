package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// runTombstones runs the subtests of ucoauth.Tombstoner, skipped for a
// store that is not one.
func runTombstones(t *testing.T, h Harness) {
	t.Run("TombstoneRefusesRevokedGrant", func(t *testing.T) { testTombstoneRefuses(t, h) })
	t.Run("TombstoneNamesGivenGrants", func(t *testing.T) { testTombstoneGrants(t, h) })
	t.Run("TombstoneAtomicAgainstSaves", func(t *testing.T) { testTombstoneAtomic(t, h) })
	t.Run("TombstoneDeleted", func(t *testing.T) { testTombstoneDeleted(t, h) })
	t.Run("TombstoneOverLegacyRecord", func(t *testing.T) { testTombstoneLegacy(t, h) })
	t.Run("TombstoneExpires", func(t *testing.T) { testTombstoneExpires(t, h) })
	t.Run("TombstoneKeepsNewerFormat", func(t *testing.T) { testTombstoneNewerFormat(t, h) })
	t.Run("TombstoneTokenOfItsOwnRevokedGrant", func(t *testing.T) { testTombstoneSelfRevoked(t, h) })
}

// GrantToken is Token carrying grant ID grant (see ucoauth.GrantExtra).
func GrantToken(access, grant string, expiry time.Time) *oauth2.Token {
	return ucoauth.WithGrantID(Token(access, expiry), grant)
}

func tombstoner(t *testing.T, s ucoauth.TokenStore) ucoauth.Tombstoner {
	ts, ok := s.(ucoauth.Tombstoner)
	if !ok {
		t.Skipf("%T is not a ucoauth.Tombstoner", s)
	}
	return ts
}

// requireTombstone checks that Load of key says revoked, and not found to
// a caller that knows nothing of tombstones.
func requireTombstone(t *testing.T, s ucoauth.TokenStore, key string, msg string) {
	t.Helper()
	tok, err := s.Load(ctx(t), key)
	assert.Nil(t, tok, msg)
	require.ErrorIs(t, err, ucoauth.ErrRevoked, msg)
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound, "%s: an older caller sees no token", msg)
	assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired, msg)
	permanentErr(t, err, "%s: a tombstone is not an outage", msg)
}

func requireRefused(t *testing.T, err error, msg string) {
	t.Helper()
	require.ErrorIs(t, err, ucoauth.ErrRevoked, msg)
	assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired, msg)
	assert.NotErrorIs(t, err, ucoauth.ErrSuperseded, msg)
	permanentErr(t, err, "%s: a refusal is not an outage", msg)
	assert.NotContains(t, err.Error(), "rt-", "%s: no token in the error", msg)
}

func testTombstoneRefuses(t *testing.T, h Harness) {
	s := h.New(t)
	ts := tombstoner(t, s)
	peer := h.Peer(t, s)
	now := time.Now()
	require.NoError(t, s.Save(ctx(t), "m", h.grantToken("at-x1", "g-x", now.Add(time.Hour))))
	got, err := s.Load(ctx(t), "m")
	require.NoError(t, err)
	assert.Equal(t, "g-x", ucoauth.GrantID(got), "the grant ID is stored")

	require.NoError(t, ts.Tombstone(ctx(t), "m"))
	requireTombstone(t, s, "m", "after the tombstone")
	requireTombstone(t, peer, "m", "through a peer")

	// A refresh of the revoked grant, issued after the tombstone, elsewhere.
	requireRefused(t, peer.Save(ctx(t), "m", h.grantToken("at-x2", "g-x", now.Add(2*time.Hour))), "a refresh of the revoked grant")
	requireRefused(t, s.Save(ctx(t), "m", h.token("at-legacy", now.Add(2*time.Hour))), "a token with no grant ID")
	requireTombstone(t, s, "m", "after the refused saves")
	if l, ok := s.(ucoauth.Lister); ok {
		keys, err := l.Keys(ctx(t))
		require.NoError(t, err)
		assert.NotContains(t, keys, "m", "a tombstone is no merchant")
	}

	// A new authorization replaces it, even one expiring before the refresh
	// that was refused.
	require.NoError(t, peer.Save(ctx(t), "m", h.grantToken("at-y1", "g-y", now.Add(90*time.Minute))), "a new grant")
	got, err = s.Load(ctx(t), "m")
	require.NoError(t, err)
	requireSame(t, h.grantToken("at-y1", "g-y", now.Add(90*time.Minute)), got)
	assert.Equal(t, "g-y", ucoauth.GrantID(got))
	if l, ok := s.(ucoauth.Lister); ok {
		keys, err := l.Keys(ctx(t))
		require.NoError(t, err)
		assert.Contains(t, keys, "m", "the reconnected merchant is listed")
	}

	// The revoked grant stays refused over the new one, later expiry or not.
	requireRefused(t, s.Save(ctx(t), "m", h.grantToken("at-x3", "g-x", now.Add(3*time.Hour))), "the revoked grant over the new one")
	require.NoError(t, s.Save(ctx(t), "m", h.grantToken("at-y2", "g-y", now.Add(3*time.Hour))), "the new grant refreshes")
	got, err = peer.Load(ctx(t), "m")
	require.NoError(t, err)
	assert.Equal(t, "at-y2", got.AccessToken)
}

func testTombstoneGrants(t *testing.T, h Harness) {
	s := h.New(t)
	ts := tombstoner(t, s)
	now := time.Now()
	// Nothing stored: the revoker names what it holds in memory.
	require.NoError(t, ts.Tombstone(ctx(t), "m", "g-mem"))
	requireTombstone(t, s, "m", "a tombstone over nothing")
	requireRefused(t, s.Save(ctx(t), "m", h.grantToken("at-mem", "g-mem", now.Add(time.Hour))), "the grant named")

	// A second revoke keeps the first one's grants.
	require.NoError(t, ts.Tombstone(ctx(t), "m", "g-other"))
	requireRefused(t, s.Save(ctx(t), "m", h.grantToken("at-mem", "g-mem", now.Add(time.Hour))), "the grant of the first revoke")
	requireRefused(t, s.Save(ctx(t), "m", h.grantToken("at-o", "g-other", now.Add(time.Hour))), "the grant of the second")
	require.NoError(t, s.Save(ctx(t), "m", h.grantToken("at-new", "g-new", now.Add(time.Hour))))
}

// testTombstoneAtomic races a tombstone against refreshes of the revoked
// grant saved through another handle: whatever the order, no save of the
// grant may land after the tombstone, so it is what stays.
func testTombstoneAtomic(t *testing.T, h Harness) {
	s := h.New(t)
	ts := tombstoner(t, s)
	peer := h.Peer(t, s)
	base := time.Now().Add(time.Hour)
	require.NoError(t, s.Save(ctx(t), "m", h.grantToken("at-00", "g-x", base)))
	const n = 30
	var wg sync.WaitGroup
	errs := make(chan error, n+1)
	start := make(chan struct{})
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			<-start
			err := peer.Save(ctx(t), "m", h.grantToken(fmt.Sprintf("at-%02d", i), "g-x", base.Add(time.Duration(i)*time.Second)))
			if err != nil && !errors.Is(err, ucoauth.ErrRevoked) && !errors.Is(err, ucoauth.ErrSuperseded) {
				errs <- err
			}
		})
	}
	wg.Go(func() {
		<-start
		if err := ts.Tombstone(ctx(t), "m"); err != nil {
			errs <- err
		}
	})
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	requireTombstone(t, s, "m", "the tombstone outlives every save of the grant it revoked")
}

func testTombstoneDeleted(t *testing.T, h Harness) {
	s := h.New(t)
	ts := tombstoner(t, s)
	require.NoError(t, s.Save(ctx(t), "m", h.grantToken("at-x", "g-x", time.Now().Add(time.Hour))))
	require.NoError(t, ts.Tombstone(ctx(t), "m"))
	require.NoError(t, s.Delete(ctx(t), "m"), "Delete removes a tombstone like any record")
	_, err := s.Load(ctx(t), "m")
	require.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
	assert.NotErrorIs(t, err, ucoauth.ErrRevoked, "the tombstone is gone")
	require.NoError(t, s.Save(ctx(t), "m", h.token("at-legacy", time.Now().Add(time.Hour))))
}

// testTombstoneLegacy: a record written before grant IDs (format version 1,
// no grant) still loads, and a tombstone over it refuses every token
// without a grant ID.
func testTombstoneLegacy(t *testing.T, h Harness) {
	if h.Plant == nil {
		t.Skip("Harness.Plant is not set")
	}
	s := h.New(t)
	ts := tombstoner(t, s)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	h.Plant(t, s, "m", []byte(`{"version":1,"key":"m","access_token":"at-old","token_type":"bearer","refresh_token":"rt-old","expiry":"`+exp.Format(time.RFC3339)+`"}`))
	got, err := s.Load(ctx(t), "m")
	require.NoError(t, err, "a version-1 record of an earlier build loads")
	assert.Equal(t, "at-old", got.AccessToken)
	assert.Empty(t, ucoauth.GrantID(got))

	require.NoError(t, ts.Tombstone(ctx(t), "m"))
	requireTombstone(t, s, "m", "over a legacy record")
	legacy := &oauth2.Token{AccessToken: "at-old2", RefreshToken: "rt-old2", Expiry: exp.Add(time.Hour)}
	requireRefused(t, s.Save(ctx(t), "m", legacy), "a refresh of the legacy grant")
	require.NoError(t, s.Save(ctx(t), "m", ucoauth.WithGrantID(legacy, ucoauth.NewGrantID())), "a stamped new authorization")
}

// testTombstoneExpires: a tombstone older than tokenstore.TombstoneRetention
// counts as no record.
func testTombstoneExpires(t *testing.T, h Harness) {
	if h.Plant == nil {
		t.Skip("Harness.Plant is not set")
	}
	s := h.New(t)
	tombstoner(t, s)
	old := time.Now().Add(-tokenstore.TombstoneRetention - time.Hour).UTC().Format(time.RFC3339Nano)
	h.Plant(t, s, "m", []byte(`{"version":2,"key":"m","access_token":"","revoked":[{"grant":"g-x","at":"`+old+`"},{"grant":"","at":"`+old+`"}]}`))
	_, err := s.Load(ctx(t), "m")
	require.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
	assert.NotErrorIs(t, err, ucoauth.ErrRevoked, "an expired tombstone revokes nothing")
	if l, ok := s.(ucoauth.Lister); ok {
		keys, err := l.Keys(ctx(t))
		require.NoError(t, err)
		assert.NotContains(t, keys, "m")
	}
	require.NoError(t, s.Save(ctx(t), "m", h.grantToken("at-x", "g-x", time.Now().Add(time.Hour))), "the old grant may be saved again")

	// A live one, planted as another build wrote it, still refuses.
	recent := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	h.Plant(t, s, "n", []byte(`{"version":2,"key":"n","access_token":"","revoked":[{"grant":"g-x","at":"`+recent+`"},{"grant":"","at":"`+recent+`"}]}`))
	requireTombstone(t, s, "n", "a live planted tombstone")
	requireRefused(t, s.Save(ctx(t), "n", h.grantToken("at-x", "g-x", time.Now().Add(time.Hour))), "over a planted tombstone")
}

func testTombstoneNewerFormat(t *testing.T, h Harness) {
	if h.Plant == nil {
		t.Skip("Harness.Plant is not set")
	}
	s := h.New(t)
	ts := tombstoner(t, s)
	raw := `{"version":3,"key":"k","access_token":"SECRET-at","refresh_token":"SECRET-rt"}`
	h.Plant(t, s, "k", []byte(raw))
	err := ts.Tombstone(ctx(t), "k")
	require.ErrorIs(t, err, tokenstore.ErrNewerFormat, "a record of a newer build is never overwritten")
	assert.NotContains(t, err.Error(), secretMark)
	_, err = s.Load(ctx(t), "k")
	assert.ErrorIs(t, err, tokenstore.ErrNewerFormat, "it is intact")
}

// testTombstoneSelfRevoked: a token record whose own grant is among its
// live revocations (no build writes one; a writer to the store can) is a
// tombstone: Load says revoked, Keys does not list it, and a new grant's
// token replaces it whatever expiry it claims.
func testTombstoneSelfRevoked(t *testing.T, h Harness) {
	if h.Plant == nil {
		t.Skip("Harness.Plant is not set")
	}
	s := h.New(t)
	tombstoner(t, s)
	recent := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	later := time.Now().Add(20 * time.Hour).UTC().Format(time.RFC3339)
	h.Plant(t, s, "m", []byte(`{"version":2,"key":"m","access_token":"at-x","refresh_token":"rt-x","expiry":"`+later+`","grant":"g-x",`+
		`"revoked":[{"grant":"g-x","at":"`+recent+`"},{"grant":"","at":"`+recent+`"}]}`))
	requireTombstone(t, s, "m", "a token of its own revoked grant")
	if l, ok := s.(ucoauth.Lister); ok {
		keys, err := l.Keys(ctx(t))
		require.NoError(t, err)
		assert.NotContains(t, keys, "m")
	}
	requireRefused(t, s.Save(ctx(t), "m", h.grantToken("at-y", "g-x", time.Now().Add(time.Hour))), "the revoked grant")
	require.NoError(t, s.Save(ctx(t), "m", h.grantToken("at-new", "g-new", time.Now().Add(time.Hour))), "a new authorization, expiring before the forged token")
	got, err := s.Load(ctx(t), "m")
	require.NoError(t, err)
	assert.Equal(t, "at-new", got.AccessToken)
	requireRefused(t, s.Save(ctx(t), "m", h.grantToken("at-z", "g-x", time.Now().Add(2*time.Hour))), "the revocations carried on")
}

// grantToken is h's token carrying grant ID grant.
func (h Harness) grantToken(access, grant string, expiry time.Time) *oauth2.Token {
	return ucoauth.WithGrantID(h.token(access, expiry), grant)
}

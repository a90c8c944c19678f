package tokenstore_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// sealSaveInners are the inner stores whose Save checks the stored record
// inside its own compare-and-set (Memory, File), and one that does not (a
// Memory seen only as a ucoauth.TokenStore), where Seal loads first.
// plant replaces key's stored record by raw bytes; raw reads them.
type sealSaveInner struct {
	name  string
	inner ucoauth.TokenStore
	plant func(key string, raw []byte)
	raw   func(key string) []byte
}

func sealSaveInners(t *testing.T) []sealSaveInner {
	mem := tokenstore.NewMemory()
	plain := tokenstore.NewMemory()
	f, err := tokenstore.NewFile(t.TempDir())
	require.NoError(t, err)
	memRaw := func(m *tokenstore.Memory) func(string) []byte {
		return func(key string) []byte {
			tok, err := m.Load(t.Context(), key)
			require.NoError(t, err)
			return []byte(tok.AccessToken + "\x00" + tok.RefreshToken)
		}
	}
	return []sealSaveInner{
		{"memory", mem, func(k string, raw []byte) { tokenstore.PlantMemory(mem, k, raw) }, memRaw(mem)},
		{"file", f, func(k string, raw []byte) {
			require.NoError(t, os.WriteFile(tokenstore.FilePath(f, k), raw, 0o600))
		}, func(k string) []byte {
			b, err := os.ReadFile(tokenstore.FilePath(f, k))
			require.NoError(t, err)
			return b
		}},
		{"store without a checked save", struct{ ucoauth.TokenStore }{plain},
			func(k string, raw []byte) { tokenstore.PlantMemory(plain, k, raw) }, memRaw(plain)},
	}
}

// TestSealSaveRefusesARecordReplacedSinceItsOwnSave: Save compares the
// stored record with the one it wrote last, to skip opening it again. A
// record replaced since, by one sealed with a key it lacks or by its own
// record tampered with, is opened, and refused: never overwritten.
func TestSealSaveRefusesARecordReplacedSinceItsOwnSave(t *testing.T) {
	for _, in := range sealSaveInners(t) {
		t.Run(in.name, func(t *testing.T) {
			exp := time.Now().Add(time.Hour)
			s := mustSeal(t, in.inner, sealK1)
			other := mustSeal(t, in.inner, sealK2)
			require.NoError(t, s.Save(t.Context(), "m", storetest.Token("at-1", exp)))
			require.NoError(t, s.Save(t.Context(), "m", storetest.Token("at-2", exp.Add(time.Second))), "its own record")

			// Another configuration writes over it (a Save that, over a
			// store without the check, nothing stops).
			require.NoError(t, tokenstore.PlantRecordForTest(t, "m", func(raw []byte) { in.plant("m", raw) },
				other, storetest.Token("at-other", exp.Add(2*time.Second))))
			before := in.raw("m")
			err := s.Save(t.Context(), "m", storetest.Token("at-3", exp.Add(3*time.Second)))
			requireCannotOpen(t, err, "k2", "at-3", "rt-at-3")
			assert.Equal(t, before, in.raw("m"), "a record sealed with another key was overwritten")
		})
	}
}

// TestSealSaveRefusesItsOwnRecordTamperedWith: one byte of the sealed
// access token changed in the stored record (same length, same key ID)
// makes it a record that does not open: Save refuses it.
func TestSealSaveRefusesItsOwnRecordTamperedWith(t *testing.T) {
	mem := tokenstore.NewMemory()
	s := mustSeal(t, mem, sealK1)
	exp := time.Now().Add(time.Hour)
	require.NoError(t, s.Save(t.Context(), "m", storetest.Token("at-1", exp)))
	stored, err := mem.Load(t.Context(), "m")
	require.NoError(t, err)
	enc := stored.AccessToken
	i := len(enc) - 5
	flipped := enc[:i] + map[bool]string{true: "B", false: "A"}[enc[i] == 'A'] + enc[i+1:]
	require.NotEqual(t, enc, flipped)
	tokenstore.PlantMemory(mem, "m", []byte(strings.Replace(tokenstore.MarshalForTest(t, "m", stored), enc, flipped, 1)))

	err = s.Save(t.Context(), "m", storetest.Token("at-2", exp.Add(time.Second)))
	requireCannotOpen(t, err, "k1", "at-2")
	_, err = s.Load(t.Context(), "m")
	requireCannotOpen(t, err, "k1")
}

// TestSealSaveOverItsOwnRecordKeepsTheInnerRules: the fast check changes
// nothing of inner's rules: an older token is refused, an empty refresh
// token keeps the stored one, and what loads is what was saved.
func TestSealSaveOverItsOwnRecordKeepsTheInnerRules(t *testing.T) {
	for _, in := range sealSaveInners(t) {
		t.Run(in.name, func(t *testing.T) {
			s := mustSeal(t, in.inner, sealK1)
			exp := time.Now().Add(time.Hour)
			require.NoError(t, s.Save(t.Context(), "m", storetest.Token("at-1", exp)))
			assert.ErrorIs(t, s.Save(t.Context(), "m", storetest.Token("at-old", exp.Add(-time.Minute))), ucoauth.ErrSuperseded)
			noRefresh := storetest.Token("at-2", exp.Add(time.Minute))
			noRefresh.RefreshToken = ""
			require.NoError(t, s.Save(t.Context(), "m", noRefresh))
			got, err := s.Load(t.Context(), "m")
			require.NoError(t, err)
			assert.Equal(t, "at-2", got.AccessToken)
			assert.Equal(t, "rt-at-1", got.RefreshToken, "the stored refresh token is kept")
		})
	}
}

// TestSealRemembersABoundedNumberOfRecords: the records a sealed store
// remembers, to skip opening its own, stay bounded however many merchants
// it saves; a forgotten one is opened, and saved over, as before.
func TestSealRemembersABoundedNumberOfRecords(t *testing.T) {
	mem := tokenstore.NewMemory()
	s := mustSeal(t, mem, sealK1)
	exp := time.Now().Add(time.Hour)
	n := tokenstore.MaxKnownRecords + 50
	for i := range n {
		require.NoError(t, s.Save(t.Context(), fmt.Sprintf("m%d", i), storetest.Token("at", exp)))
	}
	assert.Equal(t, tokenstore.MaxKnownRecords, tokenstore.KnownRecords(s))
	for i := range n {
		require.NoError(t, s.Save(t.Context(), fmt.Sprintf("m%d", i), storetest.Token("at-2", exp.Add(time.Second))), "key m%d", i)
	}
	got, err := s.Load(t.Context(), "m0")
	require.NoError(t, err)
	assert.Equal(t, "at-2", got.AccessToken)
}

// TestSealSaveCheckIsTheSameInsideTheCompareAndSet: whether the inner
// store checks the stored record inside its compare-and-set (Memory) or
// Seal loads it first (any other store), Save answers the same for every
// kind of stored record: a newer format is kept (ErrNewerFormat), a
// record that does not open is kept (ErrCannotOpen), and a corrupt record,
// a tombstone of another grant or nothing at all is replaced.
func TestSealSaveCheckIsTheSameInsideTheCompareAndSet(t *testing.T) {
	exp := time.Now().Add(time.Hour)
	sealedOther := func(t *testing.T) []byte {
		m := tokenstore.NewMemory()
		var raw []byte
		require.NoError(t, tokenstore.PlantRecordForTest(t, "m", func(b []byte) { raw = b }, mustSeal(t, m, sealK2), storetest.Token("at-other", exp)))
		return raw
	}
	for _, tc := range []struct {
		name   string
		stored func(t *testing.T) []byte
		want   error // nil: replaced
	}{
		{"nothing", func(*testing.T) []byte { return nil }, nil},
		{"corrupt", func(*testing.T) []byte { return []byte("{not json") }, nil},
		{"tombstone of another grant", func(t *testing.T) []byte {
			m := tokenstore.NewMemory()
			require.NoError(t, m.Tombstone(t.Context(), "m", "grant-revoked"))
			return tokenstore.RawMemory(m, "m")
		}, nil},
		{"newer format", func(*testing.T) []byte {
			return []byte(`{"version":99,"key":"m","access_token":"x"}`)
		}, tokenstore.ErrNewerFormat},
		{"sealed with another key", sealedOther, tokenstore.ErrCannotOpen},
		{"not sealed", func(t *testing.T) []byte {
			return []byte(tokenstore.MarshalForTest(t, "m", storetest.Token("plain", exp)))
		}, tokenstore.ErrCannotOpen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stored := tc.stored(t)
			for _, inner := range []struct {
				name string
				mem  *tokenstore.Memory
				as   func(*tokenstore.Memory) ucoauth.TokenStore
			}{
				{"checked inside", tokenstore.NewMemory(), func(m *tokenstore.Memory) ucoauth.TokenStore { return m }},
				{"loaded first", tokenstore.NewMemory(), func(m *tokenstore.Memory) ucoauth.TokenStore { return struct{ ucoauth.TokenStore }{m} }},
			} {
				if stored != nil {
					tokenstore.PlantMemory(inner.mem, "m", stored)
				}
				s := mustSeal(t, inner.as(inner.mem), sealK1)
				err := s.Save(t.Context(), "m", ucoauth.WithGrantID(storetest.Token("at-new", exp.Add(time.Minute)), "grant-new"))
				if tc.want == nil {
					require.NoError(t, err, inner.name)
					got, err := s.Load(t.Context(), "m")
					require.NoError(t, err, inner.name)
					assert.Equal(t, "at-new", got.AccessToken, inner.name)
					continue
				}
				assert.ErrorIs(t, err, tc.want, inner.name)
				if stored != nil {
					assert.Equal(t, stored, tokenstore.RawMemory(inner.mem, "m"), "%s: the record was overwritten", inner.name)
				}
			}
		})
	}
}

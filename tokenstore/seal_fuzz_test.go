package tokenstore

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// The only plaintexts ever sealed with fuzzKey: one per field.
const (
	fuzzPlaintext = "fuzz-secret-access-token"
	fuzzRefresh   = "fuzz-secret-refresh-token"
)

// fuzzKey is fixed, so that a value sealed in one run of the fuzzer still
// opens in the next, and the property below needs no list of genuine values.
var fuzzKey = SealKey{ID: "k1", Secret: []byte("0123456789abcdef0123456789ABCDEF")}

// FuzzOpen feeds the sealed-value parser arbitrary text. It must not panic,
// must open nothing but an untouched value sealed for this store key and
// field (only fuzzPlaintext was ever sealed with fuzzKey), and its errors
// must match ErrCannotOpen and hold no secret and no long piece of the input.
func FuzzOpen(f *testing.F) {
	strict, err := newSealer(fuzzKey, []SealKey{{ID: "k0", Secret: []byte("fedcba9876543210FEDCBA9876543210")}})
	require.NoError(f, err)
	migrating, err := newSealer(fuzzKey, []SealKey{{ID: PlaintextKeyID}})
	require.NoError(f, err)

	genuine := strict.seal("m", fieldAccess, fuzzPlaintext)
	enc := genuine[len("ucs1:k1:"):]
	raw, _ := base64.RawURLEncoding.DecodeString(enc)
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)-1] ^= 1
	for _, seed := range []string{
		genuine,
		strict.seal("m", fieldAccess, fuzzPlaintext),
		strict.seal("m", fieldRefresh, fuzzRefresh),
		strict.seal("other", fieldAccess, fuzzPlaintext), // another store key
		"ucs1:k1:" + base64.RawURLEncoding.EncodeToString(flipped),
		"ucs1:k1:" + enc[:len(enc)-1],
		"ucs1:k1:" + enc + "A",
		"ucs1:k1:" + enc[:10] + "\n" + enc[10:],
		"ucs1:k1:" + enc + "\r\n",
		"ucs1:k1:" + base64.URLEncoding.EncodeToString(raw),
		"ucs1:k1:" + base64.StdEncoding.EncodeToString(raw),
		"ucs1:k0:" + enc,
		"ucs1:k9:" + enc,
		"ucs1:K1:" + enc,
		"ucs1:k1:",
		"ucs1:k1",
		"ucs1::" + enc,
		"ucs1:",
		"ucs1:k1:AAAA",
		"ucs1:k1:" + strings.Repeat("A", 38),
		"ucs1:k1:" + strings.Repeat("A", 40),
		"ucs1:" + strings.Repeat("k", 33) + ":" + enc,
		"ucs1:k1:" + enc + ":" + enc,
		"ucs1:k1:\x00\xff",
		"ucs2:k1:" + enc,
		"ucs01:k1:" + enc,
		"ucs:k1:" + enc,
		"UCS1:k1:" + enc,
		"ucs1",
		"plain-token",
		"",
		"\xff\xfe",
		strings.Repeat("ucs1:", 1000),
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	leaks := []string{
		fuzzPlaintext,
		fuzzRefresh,
		string(fuzzKey.Secret),
		hex.EncodeToString(fuzzKey.Secret),
		base64.StdEncoding.EncodeToString(fuzzKey.Secret),
		"fedcba9876543210",
	}

	f.Fuzz(func(t *testing.T, value string, refresh bool) {
		field := fieldAccess
		if refresh {
			field = fieldRefresh
		}
		for _, s := range []*sealer{strict, migrating} {
			pt, err := s.open("m", field, value)
			if err != nil {
				assert.Empty(t, pt)
				assert.ErrorIs(t, err, ErrCannotOpen)
				assert.False(t, errors.Is(err, ucoauth.ErrTokenNotFound))
				var oe *OpenError
				assert.True(t, errors.As(err, &oe), "not an *OpenError: %T", err)
				msg := err.Error()
				for _, l := range leaks {
					assert.NotContains(t, msg, l)
				}
				if len(value) > len("ucs1:")+maxKeyIDLen+1 {
					assert.NotContains(t, msg, value, "the error echoes the input")
				}
				continue
			}
			if value == "" {
				assert.Empty(t, pt)
				continue
			}
			id, sealed := keyIDOf(value)
			if !sealed {
				require.True(t, s.plaintext, "an unsealed value opened without the plaintext pseudo-key")
				require.False(t, looksVersioned(value), "a value of another seal version was read as plaintext")
				assert.Equal(t, value, pt)
				continue
			}
			// It opened as sealed: it must be the one canonical text of a
			// genuine seal of the only plaintext ever sealed for this field.
			want := fuzzPlaintext
			if refresh {
				want = fuzzRefresh
			}
			require.Equal(t, want, pt, "a value sealed for another field opened")
			require.Equal(t, fuzzKey.ID, id)
			rest := value[len(sealPrefix)+len(id)+1:]
			b, err := base64.RawURLEncoding.DecodeString(rest)
			require.NoError(t, err)
			require.Equal(t, sealPrefix+id+":"+base64.RawURLEncoding.EncodeToString(b), value, "a non-canonical text opened")
		}
	})
}

// FuzzParseSealKeys feeds the key configuration parser arbitrary text. It
// must not panic; what it accepts Seal accepts too, each key with a
// 32-byte secret; what it refuses matches ErrSealConfig and never quotes
// the part of an entry after its colon (the secret).
func FuzzParseSealKeys(f *testing.F) {
	k1 := base64.StdEncoding.EncodeToString(fuzzKey.Secret)
	k0 := base64.RawURLEncoding.EncodeToString([]byte("fedcba9876543210FEDCBA9876543210"))
	for _, s := range []string{
		"", ",", " , ,", ":", "k1:", ":" + k1, "k1:" + k1, "k1:" + k1 + ",k0:" + k0, "k1:" + k1 + ",plaintext",
		"plaintext", "plaintext,k1:" + k1, "k1:" + k1 + ",plaintext,plaintext", "plaintext:" + k1,
		"k1:" + k1 + ",k1:" + k0, "k1:" + k1 + ",k2:" + k1, "k1:" + strings.Repeat("A", 43) + "=",
		"k1:" + k1[:20] + "\n" + k1[20:], "k1:" + k1 + "!", "k1 : " + k1 + " ", "k\x1b[2J:" + k1,
		strings.Repeat("k", 33) + ":" + k1, "ключ:" + k1, "k1:" + k1 + "," + strings.Repeat(",", 1000),
		"k1:" + hex.EncodeToString(fuzzKey.Secret), "k1:" + k1 + ":" + k1,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		keys, err := ParseSealKeys(s)
		if err == nil {
			require.NotEmpty(t, keys)
			for _, k := range keys {
				if k.ID != PlaintextKeyID {
					require.Len(t, k.Secret, SealKeySize)
				}
			}
			_, err := Seal(NewMemory(), keys[0], keys[1:]...)
			require.NoError(t, err, "Seal refuses what ParseSealKeys accepted")
			return
		}
		require.ErrorIs(t, err, ErrSealConfig)
		msg := err.Error()
		var ids []string
		entries := strings.Split(s, ",")
		for _, e := range entries {
			id, _, _ := strings.Cut(e, ":")
			ids = append(ids, id)
		}
		for _, e := range entries {
			_, secret, ok := strings.Cut(e, ":")
			secret = strings.TrimSpace(secret)
			if !ok || len(secret) < 8 || strings.Contains(strings.Join(ids, ","), secret) {
				continue
			}
			assert.NotContains(t, msg, secret, "the error quotes a secret")
		}
	})
}

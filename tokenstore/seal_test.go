package tokenstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/internal/redact"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

func newSealKey(t testing.TB, id string) tokenstore.SealKey {
	t.Helper()
	secret := make([]byte, tokenstore.SealKeySize)
	_, err := rand.Read(secret)
	require.NoError(t, err)
	return tokenstore.SealKey{ID: id, Secret: secret}
}

// sealKeys are shared by a store and its peers, as two processes with one
// configuration would share them.
var (
	sealK1 = mustKey("k1")
	sealK2 = mustKey("k2")
)

func mustKey(id string) tokenstore.SealKey {
	secret := make([]byte, tokenstore.SealKeySize)
	if _, err := rand.Read(secret); err != nil {
		panic(err)
	}
	return tokenstore.SealKey{ID: id, Secret: secret}
}

func mustSeal(t testing.TB, inner ucoauth.TokenStore, primary tokenstore.SealKey, older ...tokenstore.SealKey) ucoauth.TokenStore {
	t.Helper()
	s, err := tokenstore.Seal(inner, primary, older...)
	require.NoError(t, err)
	return s
}

// innerOf remembers each sealed store's inner store, for the peers.
type innerOf struct {
	mu sync.Mutex
	m  map[ucoauth.TokenStore]ucoauth.TokenStore
}

func (i *innerOf) put(sealed, inner ucoauth.TokenStore) ucoauth.TokenStore {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.m == nil {
		i.m = map[ucoauth.TokenStore]ucoauth.TokenStore{}
	}
	i.m[sealed] = inner
	return sealed
}

func (i *innerOf) get(sealed ucoauth.TokenStore) ucoauth.TokenStore {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.m[sealed]
}

func TestSealedMemoryConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) ucoauth.TokenStore {
			return mustSeal(t, tokenstore.NewMemory(), sealK2, sealK1)
		},
	})
}

func TestSealedFileConformance(t *testing.T) {
	var inners innerOf
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) ucoauth.TokenStore {
			f := newFile(t)
			return inners.put(mustSeal(t, f, sealK2, sealK1), f)
		},
		Peer: func(t *testing.T, s ucoauth.TokenStore) ucoauth.TokenStore {
			f, err := tokenstore.NewFile(tokenstore.FileDir(inners.get(s).(*tokenstore.File)))
			require.NoError(t, err)
			return inners.put(mustSeal(t, f, sealK2, sealK1), f)
		},
	})
}

// secretForms are the encodings a leaked secret could take.
func secretForms(secret []byte) []string {
	return []string{
		string(secret), hex.EncodeToString(secret), strings.ToUpper(hex.EncodeToString(secret)),
		base64.StdEncoding.EncodeToString(secret), base64.RawURLEncoding.EncodeToString(secret),
		fmt.Sprint(secret), fmt.Sprintf("%q", secret),
	}
}

func TestSealOnlySecretsAreSealed(t *testing.T) {
	f := newFile(t)
	s := mustSeal(t, f, sealK1)
	tok := storetest.Token("plain-access-token", time.Now().Add(time.Hour))
	tok.ExpiresIn = 3600
	require.NoError(t, s.Save(t.Context(), "M1", tok))

	raw, err := f.Load(t.Context(), "M1")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(raw.AccessToken, "ucs1:k1:"), "access token sealed with k1: %.12s", raw.AccessToken)
	assert.True(t, strings.HasPrefix(raw.RefreshToken, "ucs1:k1:"), "refresh token sealed with k1")
	assert.NotEqual(t, raw.AccessToken, raw.RefreshToken)
	assert.True(t, tok.Expiry.Equal(raw.Expiry), "the expiry stays readable")
	assert.Equal(t, int64(3600), raw.ExpiresIn, "the granted lifetime stays readable")
	assert.Equal(t, "bearer", raw.TokenType)
	assert.Equal(t, "order_read item_write", raw.Extra("scope"), "the scope stays readable")

	b, err := os.ReadFile(tokenstore.FilePath(f, "M1"))
	require.NoError(t, err)
	for _, secret := range []string{"plain-access-token", "rt-plain-access-token"} {
		for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)), base64.RawURLEncoding.EncodeToString([]byte(secret)), hex.EncodeToString([]byte(secret))} {
			assert.NotContains(t, string(b), form, "the file holds a token in clear")
		}
	}
	for _, c := range b {
		require.Less(t, c, byte(0x80), "the record is ASCII")
	}

	got, err := s.Load(t.Context(), "M1")
	require.NoError(t, err)
	assert.Equal(t, "plain-access-token", got.AccessToken)
	assert.Equal(t, "rt-plain-access-token", got.RefreshToken)
	assert.Equal(t, int64(3600), got.ExpiresIn)
	assert.Equal(t, "order_read item_write", got.Extra("scope"))

	// Sealing the same token twice gives two texts: nonces are random.
	require.NoError(t, s.Save(t.Context(), "M1", tok))
	again, err := f.Load(t.Context(), "M1")
	require.NoError(t, err)
	assert.NotEqual(t, raw.AccessToken, again.AccessToken)
}

func TestSealEmptyRefreshTokenStaysEmpty(t *testing.T) {
	mem := tokenstore.NewMemory()
	s := mustSeal(t, mem, sealK1)
	now := time.Now()
	first := storetest.Token("first", now.Add(time.Hour))
	first.RefreshToken = ""
	require.NoError(t, s.Save(t.Context(), "m", first))
	raw, err := mem.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Empty(t, raw.RefreshToken, "an empty refresh token is not sealed into something")

	require.NoError(t, s.Save(t.Context(), "m", storetest.Token("second", now.Add(2*time.Hour))))
	before, err := mem.Load(t.Context(), "m")
	require.NoError(t, err)
	third := storetest.Token("third", now.Add(3*time.Hour))
	third.RefreshToken = ""
	require.NoError(t, s.Save(t.Context(), "m", third))
	after, err := mem.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, before.RefreshToken, after.RefreshToken, "the inner store's Merge kept the sealed refresh token")
	got, err := s.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, "third", got.AccessToken)
	assert.Equal(t, "rt-second", got.RefreshToken)

	err = s.Save(t.Context(), "m", storetest.Token("older", now.Add(time.Minute)))
	assert.ErrorIs(t, err, ucoauth.ErrSuperseded, "the inner store still orders tokens by their readable expiry")
}

// requireCannotOpen checks the error a value that does not open must give.
func requireCannotOpen(t *testing.T, err error, keyID string, secrets ...string) {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, tokenstore.ErrCannotOpen)
	assert.NotErrorIs(t, err, ucoauth.ErrTokenNotFound, "a record that does not open is not a missing token")
	assert.NotErrorIs(t, err, tokenstore.ErrCorrupt, "no store may overwrite it as corrupt")
	var oe *tokenstore.OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, keyID, oe.KeyID)
	if keyID != "" {
		assert.Contains(t, err.Error(), fmt.Sprintf("%q", keyID), "the error names the key ID")
	}
	for _, s := range secrets {
		assert.NotContains(t, err.Error(), s)
	}
}

func TestSealBindsStoreKeyAndField(t *testing.T) {
	mem := tokenstore.NewMemory()
	s := mustSeal(t, mem, sealK1)
	exp := time.Now().Add(time.Hour)
	require.NoError(t, s.Save(t.Context(), "merchant-A", storetest.Token("at-A", exp)))
	raw, err := mem.Load(t.Context(), "merchant-A")
	require.NoError(t, err)

	// Copied to another merchant's key.
	require.NoError(t, mem.Save(t.Context(), "merchant-B", raw))
	_, err = s.Load(t.Context(), "merchant-B")
	requireCannotOpen(t, err, "k1", "at-A", "rt-at-A")

	// Access and refresh swapped.
	swapped := *raw
	swapped.AccessToken, swapped.RefreshToken = raw.RefreshToken, raw.AccessToken
	require.NoError(t, mem.Save(t.Context(), "merchant-C", &swapped))
	_, err = s.Load(t.Context(), "merchant-C")
	requireCannotOpen(t, err, "k1", "at-A", "rt-at-A")

	// The key ID rewritten to another configured key.
	s2 := mustSeal(t, mem, sealK1, sealK2)
	relabelled := *raw
	relabelled.AccessToken = strings.Replace(raw.AccessToken, "ucs1:k1:", "ucs1:k2:", 1)
	require.NoError(t, mem.Delete(t.Context(), "merchant-D"))
	require.NoError(t, mem.Save(t.Context(), "merchant-D", &relabelled))
	_, err = s2.Load(t.Context(), "merchant-D")
	requireCannotOpen(t, err, "k2", "at-A")

	// Every single-character change of the sealed text, under its own key.
	put := func(v *oauth2.Token) {
		t.Helper()
		require.NoError(t, mem.Delete(t.Context(), "merchant-A"))
		require.NoError(t, mem.Save(t.Context(), "merchant-A", v))
	}
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := len("ucs1:k1:"); i < len(raw.AccessToken); i++ {
		tampered := *raw
		b := []byte(raw.AccessToken)
		b[i] = alphabet[(strings.IndexByte(alphabet, b[i])+1)%len(alphabet)]
		tampered.AccessToken = string(b)
		put(&tampered)
		_, err := s.Load(t.Context(), "merchant-A")
		require.Error(t, err, "byte %d changed and the value still opened", i)
		assert.ErrorIs(t, err, tokenstore.ErrCannotOpen)
	}
	// The decoder would skip line breaks: a text with one is not the text sealed.
	for _, nl := range []string{"\n", "\r", "\r\n"} {
		broken := *raw
		mid := len(raw.AccessToken) / 2
		broken.AccessToken = raw.AccessToken[:mid] + nl + raw.AccessToken[mid:]
		put(&broken)
		_, err := s.Load(t.Context(), "merchant-A")
		requireCannotOpen(t, err, "k1", "at-A")
	}
	put(raw)
	got, err := s.Load(t.Context(), "merchant-A")
	require.NoError(t, err, "the original still opens")
	assert.Equal(t, "at-A", got.AccessToken)
}

func TestSealUnopenableRecordIsAnErrorAndIsNeverOverwritten(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  tokenstore.SealKey
	}{
		{"unknown key ID", sealK2},
		{"wrong key under the same ID", mustKey("k1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := tokenstore.NewMemory()
			require.NoError(t, mustSeal(t, mem, sealK1).Save(t.Context(), "m", storetest.Token("at-1", time.Now().Add(time.Hour))))
			before, err := mem.Load(t.Context(), "m")
			require.NoError(t, err)

			s := mustSeal(t, mem, tc.key)
			_, err = s.Load(t.Context(), "m")
			requireCannotOpen(t, err, "k1", append(secretForms(tc.key.Secret), append(secretForms(sealK1.Secret), "at-1", "rt-at-1")...)...)

			err = s.Save(t.Context(), "m", storetest.Token("at-2", time.Now().Add(2*time.Hour)))
			requireCannotOpen(t, err, "k1")
			after, err := mem.Load(t.Context(), "m")
			require.NoError(t, err)
			assert.Equal(t, before, after, "a record that does not open is never overwritten")

			// Through a TokenSource: a permanent store error, not "not found".
			_, err = ucoauth.NewTokenSource(&oauth2.Config{}, s, "m").Token()
			var se *ucoauth.StoreError
			require.ErrorAs(t, err, &se)
			assert.False(t, se.Temporary(), "retrying cannot open it")
			assert.ErrorIs(t, err, tokenstore.ErrCannotOpen)
		})
	}
}

func TestSealPlaintextRecords(t *testing.T) {
	mem := tokenstore.NewMemory()
	exp := time.Now().Add(time.Hour)
	require.NoError(t, mem.Save(t.Context(), "old", storetest.Token("plain-at", exp)))
	before, err := mem.Load(t.Context(), "old")
	require.NoError(t, err)

	strict := mustSeal(t, mem, sealK1)
	_, err = strict.Load(t.Context(), "old")
	requireCannotOpen(t, err, "", "plain-at")
	assert.Contains(t, err.Error(), "not sealed")
	err = strict.Save(t.Context(), "old", storetest.Token("planted", exp.Add(time.Hour)))
	requireCannotOpen(t, err, "")
	after, err := mem.Load(t.Context(), "old")
	require.NoError(t, err)
	assert.Equal(t, before, after, "an unsealed record is refused, not overwritten, without the plaintext pseudo-key")

	// A value of an unknown seal version is never read as plaintext.
	future := storetest.Token("ucs2:k9:AAAA", exp)
	require.NoError(t, mem.Save(t.Context(), "future", future))
	migrating := mustSeal(t, mem, sealK1, tokenstore.SealKey{ID: tokenstore.PlaintextKeyID})
	_, err = migrating.Load(t.Context(), "future")
	requireCannotOpen(t, err, "")
	require.NoError(t, mem.Delete(t.Context(), "future"))

	got, err := migrating.Load(t.Context(), "old")
	require.NoError(t, err, "the plaintext pseudo-key reads records written before sealing")
	assert.Equal(t, "plain-at", got.AccessToken)
	assert.Equal(t, "rt-plain-at", got.RefreshToken)

	n, err := tokenstore.Reseal(t.Context(), migrating)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	raw, err := mem.Load(t.Context(), "old")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(raw.AccessToken, "ucs1:k1:"))
	assert.True(t, strings.HasPrefix(raw.RefreshToken, "ucs1:k1:"))
	got, err = strict.Load(t.Context(), "old")
	require.NoError(t, err, "after Reseal the pseudo-key can go")
	assert.Equal(t, "plain-at", got.AccessToken)
}

func TestSealRotationAndReseal(t *testing.T) {
	f := newFile(t)
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	v1 := mustSeal(t, f, sealK1)
	for i := range 5 {
		require.NoError(t, v1.Save(ctx, fmt.Sprintf("m%d", i), storetest.Token(fmt.Sprintf("at-%d", i), exp)))
	}

	// Step 1: k2 becomes primary, k1 stays as older.
	v2 := mustSeal(t, f, sealK2, sealK1)
	got, err := v2.Load(ctx, "m0")
	require.NoError(t, err, "a record sealed with an older key opens")
	assert.Equal(t, "at-0", got.AccessToken)
	require.NoError(t, v2.Save(ctx, "m0", storetest.Token("at-0b", exp.Add(time.Hour))))
	raw, err := f.Load(ctx, "m0")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(raw.AccessToken, "ucs1:k2:"), "new records are sealed with the primary key")

	// A save without a refresh token keeps an older key's sealed one: a mixed record.
	mixed := storetest.Token("at-1b", exp.Add(time.Hour))
	mixed.RefreshToken = ""
	require.NoError(t, v2.Save(ctx, "m1", mixed))
	raw, err = f.Load(ctx, "m1")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(raw.RefreshToken, "ucs1:k1:"))

	// Step 2: Reseal rewrites what k1 still seals (m1's refresh token, m2-m4).
	n, err := tokenstore.Reseal(ctx, v2)
	require.NoError(t, err)
	assert.Equal(t, 4, n, "m0 was sealed with k2 already")
	n, err = tokenstore.Reseal(ctx, v2)
	require.NoError(t, err)
	assert.Zero(t, n, "a second Reseal has nothing to do")

	// Step 3: k1 retires; everything opens with k2 alone.
	only2 := mustSeal(t, f, sealK2)
	for i, want := range []struct{ access, refresh string }{
		{"at-0b", "rt-at-0b"}, {"at-1b", "rt-at-1"}, {"at-2", "rt-at-2"}, {"at-3", "rt-at-3"}, {"at-4", "rt-at-4"},
	} {
		got, err := only2.Load(ctx, fmt.Sprintf("m%d", i))
		require.NoError(t, err, "m%d", i)
		assert.Equal(t, want.access, got.AccessToken)
		assert.Equal(t, want.refresh, got.RefreshToken)
	}
}

func TestResealReportsUnopenableAndCarriesOn(t *testing.T) {
	mem := tokenstore.NewMemory()
	exp := time.Now().Add(time.Hour)
	require.NoError(t, mustSeal(t, mem, sealK1).Save(t.Context(), "good", storetest.Token("at-g", exp)))
	lost := mustKey("lost")
	require.NoError(t, mustSeal(t, mem, lost).Save(t.Context(), "orphan", storetest.Token("at-o", exp)))
	orphan, err := mem.Load(t.Context(), "orphan")
	require.NoError(t, err)

	impostor := mustKey("k2") // the primary's ID with another secret
	require.NoError(t, mustSeal(t, mem, impostor).Save(t.Context(), "impostor", storetest.Token("at-i", exp)))

	s := mustSeal(t, mem, sealK2, sealK1)
	n, err := tokenstore.Reseal(t.Context(), s)
	assert.Equal(t, 1, n, "the good record was resealed")
	require.ErrorIs(t, err, tokenstore.ErrCannotOpen)
	assert.NotErrorIs(t, err, ucoauth.ErrTokenNotFound)
	for _, secret := range append(append(secretForms(lost.Secret), secretForms(impostor.Secret)...), "at-o", "rt-at-o", "at-i", "rt-at-i") {
		assert.NotContains(t, err.Error(), secret)
	}
	assert.Contains(t, err.Error(), `key ID "lost"`)
	assert.Contains(t, err.Error(), `"orphan"`, "the error names the store key")
	assert.Contains(t, err.Error(), `"impostor"`, "a record naming the primary key that does not open is reported too")
	assert.Contains(t, err.Error(), `key ID "k2"`)
	after, err := mem.Load(t.Context(), "orphan")
	require.NoError(t, err)
	assert.Equal(t, orphan, after, "an unopenable record is left as it was")
}

func TestResealNeedsASealedListerStore(t *testing.T) {
	_, err := tokenstore.Reseal(t.Context(), tokenstore.NewMemory())
	assert.ErrorContains(t, err, "returned by Seal")
	_, err = tokenstore.Reseal(t.Context(), mustSeal(t, onlyStore{tokenstore.NewMemory()}, sealK1))
	assert.ErrorContains(t, err, "ucoauth.Lister")
}

func TestResealRacingRefreshesLosesNothing(t *testing.T) {
	mem := tokenstore.NewMemory()
	ctx := t.Context()
	base := time.Now().Add(time.Hour)
	v1 := mustSeal(t, mem, sealK1)
	for i := range 20 {
		require.NoError(t, v1.Save(ctx, fmt.Sprintf("m%d", i), storetest.Token("at-0", base)))
	}
	v2 := mustSeal(t, mem, sealK2, sealK1)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			key := fmt.Sprintf("m%d", i)
			for j := 1; j <= 10; j++ {
				unlock, err := v2.(ucoauth.Locker).Lock(ctx, key)
				if !assert.NoError(t, err) {
					return
				}
				assert.NoError(t, v2.Save(ctx, key, storetest.Token(fmt.Sprintf("at-%d", j), base.Add(time.Duration(j)*time.Second))))
				unlock()
			}
		})
	}
	_, err := tokenstore.Reseal(ctx, v2)
	wg.Wait()
	require.NoError(t, err)
	_, err = tokenstore.Reseal(ctx, v2)
	require.NoError(t, err)
	only2 := mustSeal(t, mem, sealK2)
	for i := range 20 {
		got, err := only2.Load(ctx, fmt.Sprintf("m%d", i))
		require.NoError(t, err)
		assert.Equal(t, "at-10", got.AccessToken, "the newest token wins over Reseal")
		assert.Equal(t, "rt-at-10", got.RefreshToken)
	}
}

func TestSealRefusesWeakConfiguration(t *testing.T) {
	k := newSealKey(t, "ok")
	short := tokenstore.SealKey{ID: "short", Secret: k.Secret[:31]}
	long := tokenstore.SealKey{ID: "long", Secret: append(bytes.Clone(k.Secret), 1)}
	mem := tokenstore.NewMemory()
	for _, tc := range []struct {
		name    string
		inner   ucoauth.TokenStore
		primary tokenstore.SealKey
		older   []tokenstore.SealKey
	}{
		{"31-byte secret", mem, short, nil},
		{"33-byte secret", mem, long, nil},
		{"no secret", mem, tokenstore.SealKey{ID: "none"}, nil},
		{"short older secret", mem, k, []tokenstore.SealKey{short}},
		{"empty ID", mem, tokenstore.SealKey{Secret: k.Secret}, nil},
		{"colon in ID", mem, tokenstore.SealKey{ID: "a:b", Secret: k.Secret}, nil},
		{"space in ID", mem, tokenstore.SealKey{ID: "a b", Secret: k.Secret}, nil},
		{"non-ASCII ID", mem, tokenstore.SealKey{ID: "clé", Secret: k.Secret}, nil},
		{"NUL in ID", mem, tokenstore.SealKey{ID: "a\x00", Secret: k.Secret}, nil},
		{"33-character ID", mem, tokenstore.SealKey{ID: strings.Repeat("a", 33), Secret: k.Secret}, nil},
		{"one ID twice", mem, k, []tokenstore.SealKey{newSealKey(t, "ok")}},
		{"plaintext as primary", mem, tokenstore.SealKey{ID: tokenstore.PlaintextKeyID}, nil},
		{"plaintext with a secret", mem, k, []tokenstore.SealKey{{ID: tokenstore.PlaintextKeyID, Secret: k.Secret}}},
		{"plaintext twice", mem, k, []tokenstore.SealKey{{ID: tokenstore.PlaintextKeyID}, {ID: tokenstore.PlaintextKeyID}}},
		{"no inner store", nil, k, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tokenstore.Seal(tc.inner, tc.primary, tc.older...)
			assert.Nil(t, s)
			require.ErrorIs(t, err, tokenstore.ErrSealConfig)
			for _, form := range secretForms(k.Secret) {
				assert.NotContains(t, err.Error(), form)
			}
		})
	}
	s, err := tokenstore.Seal(mem, k, tokenstore.SealKey{ID: "A-z_0.9", Secret: long.Secret[1:]})
	require.NoError(t, err, "the whole ID charset, and a 32-byte secret")
	assert.NotNil(t, s)
}

func TestParseSealKeys(t *testing.T) {
	k2, k1 := newSealKey(t, "k2"), newSealKey(t, "k1")
	keys, err := tokenstore.ParseSealKeys(" k2:" + base64.StdEncoding.EncodeToString(k2.Secret) + " , k1:" + base64.RawURLEncoding.EncodeToString(k1.Secret) + ",plaintext")
	require.NoError(t, err)
	require.Len(t, keys, 3)
	assert.Equal(t, "k2", keys[0].ID, "the first is the primary")
	assert.Equal(t, k2.Secret, keys[0].Secret)
	assert.Equal(t, "k1", keys[1].ID)
	assert.Equal(t, k1.Secret, keys[1].Secret)
	assert.Equal(t, tokenstore.SealKey{ID: tokenstore.PlaintextKeyID}, keys[2])
	_, err = tokenstore.Seal(tokenstore.NewMemory(), keys[0], keys[1:]...)
	require.NoError(t, err)

	b64 := base64.StdEncoding.EncodeToString(k1.Secret)
	for _, bad := range []string{
		"", " , ",
		"k1",
		"k1:" + b64[:len(b64)-4], // 30 bytes
		"k1:" + base64.StdEncoding.EncodeToString(append(bytes.Clone(k1.Secret), 0)), // 33 bytes
		"k1:" + b64 + "!",
		":" + b64,
		"a b:" + b64,
		"k1:" + b64 + ",k1:" + b64,
		"plaintext," + "k1:" + b64,
		"plaintext:" + b64,
	} {
		_, err := tokenstore.ParseSealKeys(bad)
		require.ErrorIs(t, err, tokenstore.ErrSealConfig, "%q is accepted", bad)
		for _, form := range secretForms(k1.Secret) {
			assert.NotContains(t, err.Error(), form)
		}
		assert.NotContains(t, err.Error(), b64[:8], "the error quotes the secret")
	}
}

// Wrappers with one capability each, for the four combinations.
type onlyStore struct{ ucoauth.TokenStore }

type lockerStore struct {
	ucoauth.TokenStore
	ucoauth.Locker
}

type listerStore struct {
	ucoauth.TokenStore
	ucoauth.Lister
}

func TestSealCapabilitiesAreTruthful(t *testing.T) {
	mem := tokenstore.NewMemory()
	for _, tc := range []struct {
		name           string
		inner          ucoauth.TokenStore
		locker, lister bool
	}{
		{"Memory: both", mem, true, true},
		{"neither", onlyStore{mem}, false, false},
		{"Locker only", lockerStore{mem, mem}, true, false},
		{"Lister only", listerStore{mem, mem}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustSeal(t, tc.inner, sealK1)
			_, isLocker := s.(ucoauth.Locker)
			_, isLister := s.(ucoauth.Lister)
			assert.Equal(t, tc.locker, isLocker, "Locker")
			assert.Equal(t, tc.lister, isLister, "Lister")
			if isLocker {
				unlock, err := s.(ucoauth.Locker).Lock(t.Context(), "lk")
				require.NoError(t, err)
				short, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
				_, err = mem.Lock(short, "lk")
				cancel()
				assert.Error(t, err, "the sealed store's lock is the inner store's")
				unlock()
			}
			if isLister {
				require.NoError(t, s.Save(t.Context(), "listed", storetest.Token("at", time.Now().Add(time.Hour))))
				keys, err := s.(ucoauth.Lister).Keys(t.Context())
				require.NoError(t, err)
				assert.Contains(t, keys, "listed")
			}
		})
	}
}

func TestSealKeyNeverPrints(t *testing.T) {
	k := newSealKey(t, "k1")
	s := mustSeal(t, tokenstore.NewMemory(), k, sealK2)
	type config struct {
		Keys []tokenstore.SealKey
		Key  tokenstore.SealKey
		Ptr  *tokenstore.SealKey
	}
	cfg := config{Keys: []tokenstore.SealKey{k}, Key: k, Ptr: &k}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		out = append(out, fmt.Sprintf(verb, k), fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, []tokenstore.SealKey{k}), fmt.Sprintf(verb, s))
	}
	out = append(out, k.String(), fmt.Sprint(&k), fmt.Sprintln(k, s))
	j, err := json.Marshal(cfg)
	require.NoError(t, err)
	out = append(out, string(j))
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("keys", "key", k, "cfg", cfg, "store", s)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("keys", "key", k, "cfg", cfg, "store", s)
	out = append(out, text.String(), js.String())
	for _, o := range out {
		for _, form := range append(secretForms(k.Secret), secretForms(sealK2.Secret)...) {
			require.NotContains(t, o, form)
		}
	}
	assert.Contains(t, fmt.Sprint(k), "k1", "the ID is shown")
	assert.Contains(t, fmt.Sprint(k), redact.Placeholder)
	assert.Contains(t, text.String(), "key.id=k1")
}

// TestSealedTokenSourceRefreshes runs a TokenSource over a sealed file store
// against the fake UltraCart: the refreshed, rotated token is saved sealed
// and opens again, and the hot path works as with any store.
func TestSealedTokenSourceRefreshes(t *testing.T) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetRotation(true)
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	srv.SetClock(now)
	f := newFile(t)
	s := mustSeal(t, f, sealK1)
	issued := srv.Issue("DEMO")
	require.NoError(t, s.Save(t.Context(), "DEMO", issued))

	src := ucoauth.NewTokenSource(srv.Config(), s, "DEMO", ucoauth.WithClock(now))
	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, issued.AccessToken, tok.AccessToken, "the sealed token opened")

	skew.Add(int64(2 * time.Hour))
	tok, err = src.Token()
	require.NoError(t, err)
	assert.NotEqual(t, issued.AccessToken, tok.AccessToken, "refreshed")
	assert.Equal(t, 1, srv.Stats().Refreshes())

	b, err := os.ReadFile(tokenstore.FilePath(f, "DEMO"))
	require.NoError(t, err)
	assert.NotContains(t, string(b), tok.AccessToken)
	assert.NotContains(t, string(b), tok.RefreshToken)
	stored, err := s.Load(t.Context(), "DEMO")
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, stored.AccessToken)
	assert.Equal(t, tok.RefreshToken, stored.RefreshToken, "the rotated refresh token was saved, sealed")
	assert.NotEqual(t, issued.RefreshToken, stored.RefreshToken)
}

func TestSealedFileLeavesNoClearTextBehind(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tokens")
	f, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	s := mustSeal(t, f, sealK1)
	for i := range 3 {
		require.NoError(t, s.Save(t.Context(), "m", storetest.Token(fmt.Sprintf("secret-at-%d", i), time.Now().Add(time.Duration(i+1)*time.Hour))))
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		assert.NotContains(t, string(b), "secret-at-", "%s holds a token in clear", e.Name())
	}
}

// TestSealCorruptRecordFollowsInnerRules: a record the inner store cannot
// read at all is the inner store's ErrCorrupt, passed through, and is
// replaced by a real token as the inner store's own rules allow.
func TestSealCorruptRecordFollowsInnerRules(t *testing.T) {
	f := newFile(t)
	s := mustSeal(t, f, sealK1)
	require.NoError(t, os.WriteFile(tokenstore.FilePath(f, "m"), []byte("{not json"), 0o600))
	_, err := s.Load(t.Context(), "m")
	assert.ErrorIs(t, err, tokenstore.ErrCorrupt)
	assert.NotErrorIs(t, err, tokenstore.ErrCannotOpen)
	require.NoError(t, s.Save(t.Context(), "m", storetest.Token("at-new", time.Now().Add(time.Hour))))
	got, err := s.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, "at-new", got.AccessToken)
}

func TestSealKeepsNoReferenceToTheSecret(t *testing.T) {
	k := newSealKey(t, "k1")
	keep := bytes.Clone(k.Secret)
	mem := tokenstore.NewMemory()
	s := mustSeal(t, mem, k)
	clear(k.Secret) // the caller wipes its copy
	require.NoError(t, s.Save(t.Context(), "m", storetest.Token("at", time.Now().Add(time.Hour))))
	got, err := mustSeal(t, mem, tokenstore.SealKey{ID: "k1", Secret: keep}).Load(t.Context(), "m")
	require.NoError(t, err, "sealed with the original secret, not the wiped one")
	assert.Equal(t, "at", got.AccessToken)
}

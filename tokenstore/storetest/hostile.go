package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// InvalidUTF8Keys are keys that are not valid UTF-8. A store either keeps
// each exactly, or refuses it with a permanent error (the tokenstore stores
// refuse it in Save, Load, Delete and Lock alike, with ErrInvalidKey); what
// it must never do is accept the Save and then fail the Load.
var InvalidUTF8Keys = []string{
	"\xff", "merchant-\xfe\xfd", "\xc3\x28", "cut-\xe2\x82", "\xed\xa0\x80surrogate",
	"\xc0\xafoverlong", "ok\x00\xff",
}

func testInvalidUTF8Keys(t *testing.T, h Harness) {
	s := h.New(t)
	exp := time.Now().Add(time.Hour)
	// The replacement character is what a careless encoding turns bad bytes
	// into: its token must stay its own.
	require.NoError(t, s.Save(ctx(t), "\uFFFD", h.token("at-replacement", exp)))
	var kept []string
	for i, k := range InvalidUTF8Keys {
		tok := h.token(fmt.Sprintf("at-%d", i), exp)
		if err := s.Save(ctx(t), k, tok); err != nil {
			permanentErr(t, err, "refusing key %q is not an outage", k)
			got, err := s.Load(ctx(t), k)
			assert.Error(t, err, "Save refused key %q, so Load cannot have a token for it", k)
			assert.Nil(t, got)
			// Delete and Lock may refuse it too or do nothing harmful.
			_ = s.Delete(ctx(t), k)
			if l, ok := s.(ucoauth.Locker); ok {
				if unlock, err := l.Lock(ctx(t), k); err == nil {
					unlock()
				}
			}
			continue
		}
		kept = append(kept, k)
		got, err := s.Load(ctx(t), k)
		require.NoError(t, err, "Save took key %q, so Load must return its token", k)
		requireSame(t, tok, got)
	}
	got, err := s.Load(ctx(t), "\uFFFD")
	require.NoError(t, err)
	assert.Equal(t, "at-replacement", got.AccessToken, "an invalid key must not land on U+FFFD's token")
	if l, ok := s.(ucoauth.Lister); ok {
		keys, err := l.Keys(ctx(t))
		require.NoError(t, err)
		assert.ElementsMatch(t, append([]string{"\uFFFD"}, kept...), keys, "exactly the keys that were kept")
	}
	for _, k := range kept {
		assert.NoError(t, s.Delete(ctx(t), k))
	}
}

// farExpiries cannot be real: no token is granted for more than
// ucoauth.MaxProviderLifetime. 3000 and 9999 do not fit in an int64 of nanoseconds.
var farExpiries = []time.Time{
	time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
}

// requireBounded checks that tok is never trusted beyond MaxProviderLifetime.
func requireBounded(t *testing.T, tok *oauth2.Token, msg string) {
	t.Helper()
	limit := time.Now().Add(ucoauth.MaxProviderLifetime)
	assert.False(t, tok.Expiry.After(limit), "%s: loaded expiry %v is beyond now+MaxProviderLifetime", msg, tok.Expiry)
	assert.False(t, tok.Expiry.IsZero(), "%s: a zero expiry reads as never expiring", msg)
	assert.LessOrEqual(t, tok.ExpiresIn, int64(ucoauth.MaxProviderLifetime/time.Second), "%s: granted lifetime beyond MaxProviderLifetime", msg)
	assert.GreaterOrEqual(t, tok.ExpiresIn, int64(0), "%s: negative granted lifetime", msg)
}

func testUntrustedExpiry(t *testing.T, h Harness) {
	s := h.New(t)
	for i, far := range farExpiries {
		key := fmt.Sprintf("far-%d", i)
		tok := h.token("far", far)
		tok.ExpiresIn = 1 << 60
		if err := s.Save(ctx(t), key, tok); err != nil {
			permanentErr(t, err, "refusing expiry %v is not an outage", far)
			continue
		}
		got, err := s.Load(ctx(t), key)
		require.NoError(t, err, "expiry %v", far)
		requireBounded(t, got, far.String())

		real := h.token("real", time.Now().Add(time.Hour))
		real.RefreshToken = ""
		require.NoError(t, s.Save(ctx(t), key, real), "a stored %v expiry must not supersede a fresh real token", far)
		got, err = s.Load(ctx(t), key)
		require.NoError(t, err)
		assert.Equal(t, "real", got.AccessToken)
		assert.Equal(t, "rt-far", got.RefreshToken, "the stored refresh token is kept")
		assert.True(t, real.Expiry.Equal(got.Expiry))
	}
}

func testPlantedUntrustedExpiry(t *testing.T, h Harness) {
	if h.Plant == nil {
		t.Skip("Harness.Plant is not set")
	}
	s := h.New(t)
	records := []string{
		`{"version":1,"key":"k","access_token":"SECRET-at","refresh_token":"SECRET-rt","expiry":"3000-01-01T00:00:00Z","expires_in":9223372036854775807}`,
		`{"version":1,"key":"k","access_token":"SECRET-at","refresh_token":"SECRET-rt","expiry":"2200-06-01T00:00:00+14:00","expires_in":-5}`,
		`{"version":1,"key":"k","access_token":"SECRET-at","refresh_token":"SECRET-rt","expiry":"9999-12-31T23:59:59.999999999Z"}`,
	}
	for _, raw := range records {
		h.Plant(t, s, "k", []byte(raw))
		got, err := s.Load(ctx(t), "k")
		require.NoError(t, err, raw)
		requireBounded(t, got, raw)

		real := h.token("real", time.Now().Add(time.Hour))
		real.RefreshToken = ""
		require.NoError(t, s.Save(ctx(t), "k", real), "a planted far expiry must not supersede a fresh real token: %s", raw)
		got, err = s.Load(ctx(t), "k")
		require.NoError(t, err)
		assert.Equal(t, "real", got.AccessToken)
		assert.Equal(t, "SECRET-rt", got.RefreshToken, "the stored refresh token is kept")
	}

	// A little beyond MaxProviderLifetime is another host's clock running ahead:
	// capped, still fresh, not distrusted.
	skewed := time.Now().Add(ucoauth.MaxProviderLifetime + 2*time.Minute).UTC().Format(time.RFC3339Nano)
	h.Plant(t, s, "k", []byte(`{"version":1,"key":"k","access_token":"SECRET-at","refresh_token":"SECRET-rt","expiry":"`+skewed+`"}`))
	got, err := s.Load(ctx(t), "k")
	require.NoError(t, err)
	requireBounded(t, got, "skewed")
	assert.True(t, got.Expiry.After(time.Now().Add(ucoauth.MaxProviderLifetime-time.Hour)), "capped, not distrusted: %v", got.Expiry)
}

func testNewerFormatKept(t *testing.T, h Harness) {
	if h.Plant == nil {
		t.Skip("Harness.Plant is not set")
	}
	s := h.New(t)
	records := map[string]string{
		"version 3":      `{"version":3,"key":"k","access_token":"SECRET-at","refresh_token":"SECRET-rt","expiry":1893456000}`,
		"version 4":      `{"version":4,"tokens":[{"SECRET":true}]}`,
		"version beyond": `{"version":123456789012345678901234567890,"key":"k","refresh_token":"SECRET-rt"}`,
	}
	for want, raw := range records {
		h.Plant(t, s, "k", []byte(raw))
		_, err := s.Load(ctx(t), "k")
		require.ErrorIs(t, err, tokenstore.ErrNewerFormat, raw)
		assert.NotErrorIs(t, err, tokenstore.ErrCorrupt, "a newer record is not corrupt")
		assert.Contains(t, err.Error(), want, "the error says which version")
		assert.NotContains(t, err.Error(), secretMark)

		err = s.Save(ctx(t), "k", h.token("older-build", time.Now().Add(time.Hour)))
		require.ErrorIs(t, err, tokenstore.ErrNewerFormat, "an older build must not overwrite a newer record: %s", raw)
		assert.NotErrorIs(t, err, ucoauth.ErrSuperseded)
		permanentErr(t, err, "a newer record will not go away by retrying")
		assert.NotContains(t, err.Error(), secretMark)

		_, err = s.Load(ctx(t), "k")
		require.ErrorIs(t, err, tokenstore.ErrNewerFormat, "the newer record is intact")
		assert.Contains(t, err.Error(), want, "the newer record is intact")
	}
	require.NoError(t, s.Delete(ctx(t), "k"), "an explicit Delete still removes it")
	require.NoError(t, s.Save(ctx(t), "k", h.token("after-delete", time.Now().Add(time.Hour))))
}

func testCorruptReplaced(t *testing.T, h Harness) {
	if h.Plant == nil {
		t.Skip("Harness.Plant is not set")
	}
	s := h.New(t)
	records := []string{
		`not json SECRET-at`,
		`{"version":1,"key":"k","access_tok`,
		`{"version":1,"key":"other","access_token":"SECRET-at","refresh_token":"SECRET-rt"}`,
		`{"version":0,"key":"k","access_token":"SECRET-at"}`,
		`{"version":-1,"key":"k","access_token":"SECRET-at"}`,
		`{"version":"1","key":"k","access_token":"SECRET-at"}`,
		`{"version":1.5,"key":"k","access_token":"SECRET-at"}`,
		`{"key":"k","access_token":"SECRET-at"}`,
		`{"version":1,"key":"k","refresh_token":"SECRET-rt"}`,
		`{"version":1,"key":"k","access_token":"SECRET-at","expiry":"tomorrow"}`,
		`{"version":1,"key":"k","access_token":["SECRET-at"]}`,
		`null`, `[]`, `"SECRET"`, `{"version":1,"key":"k","access_token":"SECRET-at"`,
	}
	for _, raw := range records {
		h.Plant(t, s, "k", []byte(raw))
		_, err := s.Load(ctx(t), "k")
		require.ErrorIs(t, err, tokenstore.ErrCorrupt, raw)
		assert.NotErrorIs(t, err, tokenstore.ErrNewerFormat, raw)
		assert.NotContains(t, err.Error(), secretMark)
		permanentErr(t, err, "a corrupt record will not heal by retrying")

		assert.Error(t, s.Save(ctx(t), "k", nil))
		assert.Error(t, s.Save(ctx(t), "k", h.token("", time.Now().Add(time.Hour))))
		_, err = s.Load(ctx(t), "k")
		require.ErrorIs(t, err, tokenstore.ErrCorrupt, "only a real token replaces a corrupt record: %s", raw)

		real := h.token("real", time.Now().Add(time.Hour))
		require.NoError(t, s.Save(ctx(t), "k", real), "a real token replaces a corrupt record: %s", raw)
		got, err := s.Load(ctx(t), "k")
		require.NoError(t, err)
		requireSame(t, real, got)
	}
	if l, ok := s.(ucoauth.Lister); ok {
		keys, err := l.Keys(ctx(t))
		require.NoError(t, err)
		assert.True(t, slices.Equal([]string{"k"}, keys), "keys: %q", keys)
	}
}

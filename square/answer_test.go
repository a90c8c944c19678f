package square_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/square"
)

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func TestDecodeAnswerReadsSquaresFields(t *testing.T) {
	a, err := square.DecodeAnswer([]byte(`{"access_token":"EAAA1","token_type":"bearer",
		"expires_at":"2027-01-01T10:00:00Z","merchant_id":"M1","refresh_token":"EQAA1","short_lived":true,
		"refresh_token_expires_at":"2027-03-02T10:00:00.5+01:00","subscription_id":"legacy"}`), t0)
	require.NoError(t, err)
	assert.NoError(t, a.Anomaly)
	assert.Equal(t, "EAAA1", a.Token.AccessToken)
	assert.Equal(t, "EQAA1", a.Token.RefreshToken)
	assert.Equal(t, "Bearer", a.Token.TokenType)
	assert.Equal(t, time.Date(2027, 1, 1, 10, 0, 0, 0, time.UTC), a.Token.Expiry)
	assert.Equal(t, "M1", a.MerchantID)
	assert.True(t, a.ShortLived)
	rte := time.Date(2027, 3, 2, 9, 0, 0, 5e8, time.UTC)
	assert.Equal(t, rte, a.RefreshTokenExpiresAt)
	assert.Equal(t, "M1", square.MerchantID(a.Token))
	assert.Equal(t, rte, square.RefreshTokenExpiry(a.Token))
	assert.Equal(t, true, a.Token.Extra(square.ExtraShortLived))
}

func TestDecodeAnswerHostile(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":         `<html>EAAAsecret</html>`,
		"array":            `["EAAAsecret"]`,
		"number token":     `{"access_token":12345}`,
		"empty token":      `{"access_token":""}`,
		"mac token type":   `{"access_token":"EAAAsecret","token_type":"mac"}`,
		"null":             `null`,
		"truncated object": `{"access_token":"EAAAsecret"`,
	} {
		_, err := square.DecodeAnswer([]byte(body), t0)
		require.Error(t, err, name)
		assert.ErrorIs(t, err, square.ErrBadAnswer, name)
		assert.NotContains(t, err.Error(), "EAAAsecret", name)
	}
}

func TestDecodeAnswerUnusableExpiresAtKeepsTheToken(t *testing.T) {
	for name, exp := range map[string]string{
		"absent": ``, "number": `,"expires_at":2592000`, "garbage": `,"expires_at":"soon"`,
		"no zone": `,"expires_at":"2027-01-01T10:00:00"`, "year 1": `,"expires_at":"0001-01-01T00:00:00Z"`,
	} {
		a, err := square.DecodeAnswer([]byte(`{"access_token":"A","refresh_token":"R"`+exp+`}`), t0)
		require.NoError(t, err, name)
		assert.ErrorIs(t, a.Anomaly, square.ErrBadExpiresAt, name)
		assert.Equal(t, t0.Add(square.ShortLivedLifetime), a.Token.Expiry, name)
		assert.Equal(t, "R", a.Token.RefreshToken, name, "the refresh token may be the only live one")
	}
}

func TestParseExpiresAt(t *testing.T) {
	ok := map[string]time.Time{
		"2006-01-02T15:04:05Z":             time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC),
		"2006-01-02T15:04:05.123456789Z":   time.Date(2006, 1, 2, 15, 4, 5, 123456789, time.UTC),
		"2026-12-02T10:00:00-08:00":        time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC),
		"2026-12-02T10:00:00.000000+05:30": time.Date(2026, 12, 2, 4, 30, 0, 0, time.UTC),
	}
	for in, want := range ok {
		got, err := square.ParseExpiresAt(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
		assert.Equal(t, time.UTC, got.Location(), in)
	}
	for _, in := range []string{"", "2006-01-02", "2006-01-02 15:04:05Z", "1999-12-31T23:59:59Z",
		"2006-13-02T15:04:05Z", "2006-01-02T15:04:05Z\n", "2006-01-02T15:04:05." + strings.Repeat("1", 60) + "Z"} {
		_, err := square.ParseExpiresAt(in)
		assert.ErrorIs(t, err, square.ErrBadExpiresAt, "%q", in)
	}
}

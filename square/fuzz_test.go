package square_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ucoauth/go-ucoauth/square"
)

// FuzzSquareTokenAnswer: any body either fails with ErrBadAnswer, without
// quoting the access token, or yields a usable bearer token with an expiry.
func FuzzSquareTokenAnswer(f *testing.F) {
	for _, s := range []string{
		`{"access_token":"EAAA1","token_type":"bearer","expires_at":"2027-01-01T10:00:00Z","merchant_id":"M1","refresh_token":"EQAA1"}`,
		`{"access_token":"EAAA1","expires_at":"2027-01-01T10:00:00.123-08:00","short_lived":true,"refresh_token_expires_at":"2027-04-01T00:00:00Z"}`,
		`{"access_token":"A","expires_at":12}`, `{"access_token":1}`, `[]`, `null`, `{"access_token":"A","token_type":"\r\n"}`,
		`{"access_token":"A","short_lived":"yes","merchant_id":7}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := square.DecodeAnswer(body, now)
		if err != nil {
			if a != nil {
				t.Fatal("an answer with an error")
			}
			if strings.Contains(err.Error(), "EAAA") {
				t.Fatalf("the error quotes the token: %v", err)
			}
			return
		}
		if a.Token == nil || a.Token.AccessToken == "" || a.Token.TokenType != "Bearer" {
			t.Fatalf("unusable token from a successful decode: %+v", a.Token)
		}
		if a.Token.Expiry.IsZero() {
			t.Fatal("a token without expiry would never be refreshed")
		}
		if a.Anomaly != nil && !a.Token.Expiry.Equal(now.Add(square.ShortLivedLifetime)) {
			t.Fatal("a guessed expiry must be the fallback")
		}
		if square.MerchantID(a.Token) != a.MerchantID {
			t.Fatal("the merchant extra disagrees with the answer")
		}
	})
}

// FuzzExpiresAt: the parser never panics, and what it accepts is a UTC time
// in range that formats back to the same instant.
func FuzzExpiresAt(f *testing.F) {
	for _, s := range []string{"2006-01-02T15:04:05Z", "2026-12-02T10:00:00.5-08:00", "", "soon", "9999-12-31T23:59:59Z",
		"2006-01-02T15:04:05+25:00", "0000-00-00T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := square.ParseExpiresAt(s)
		if err != nil {
			if !tm.IsZero() {
				t.Fatal("a time with an error")
			}
			return
		}
		if tm.Location() != time.UTC || tm.Year() < 2000 || tm.Year() > 9999 {
			t.Fatalf("accepted %q as %v", s, tm)
		}
		back, err := square.ParseExpiresAt(tm.Format(time.RFC3339Nano))
		if err != nil || !back.Equal(tm) {
			t.Fatalf("%q -> %v does not round-trip: %v", s, tm, err)
		}
	})
}

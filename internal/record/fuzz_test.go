package record

import (
	"encoding/json"
	"errors"
	"maps"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// digits are blanked out of error messages before they are compared with
// the messages Unmarshal may give: only numbers, never record text.
var digits = regexp.MustCompile(`[0-9]+`)

// unmarshalMessages is every message Unmarshal gives, numbers blanked.
var unmarshalMessages = map[string]bool{
	"tokenstore: invalid key: the key is empty":                                                                                                    true,
	"tokenstore: invalid key: the key is not valid UTF-# (# bytes), which a JSON record cannot keep":                                               true,
	"tokenstore: corrupt token record: not a JSON object (# bytes)":                                                                                true,
	"tokenstore: corrupt token record: no version":                                                                                                 true,
	"tokenstore: corrupt token record: version is not an integer":                                                                                  true,
	"tokenstore: corrupt token record: unsupported version # (this build reads #)":                                                                 true,
	"tokenstore: corrupt token record: unsupported version -# (this build reads #)":                                                                true,
	"tokenstore: token record written by a newer format version: version # (this build reads #); upgrade this program":                             true,
	"tokenstore: token record written by a newer format version: version beyond # (this build reads #); upgrade this program":                      true,
	"tokenstore: token record written by a newer format version: version is a number this build does not write (it reads #); upgrade this program": true,
	"tokenstore: corrupt token record: revocations in a version-# record":                                                                          true,
	"tokenstore: corrupt token record: more than # revocations":                                                                                    true,
	"tokenstore: corrupt token record: a grant ID longer than # bytes":                                                                             true,
	"tokenstore: the key was revoked (a tombstone): the merchant has to connect again":                                                             true,
	"ucoauth: token not found": true, // a tombstone past its retention
	"tokenstore: corrupt token record: a field has the wrong type (# bytes)": true,
	"tokenstore: corrupt token record: record belongs to another key":        true,
	"tokenstore: corrupt token record: no access token":                      true,
}

// FuzzRecord feeds Unmarshal arbitrary bytes for arbitrary keys. It must not
// panic; it fails only with the typed errors, whose text holds no record
// content; a token it returns never expires later than now+MaxLifetime and
// survives Marshal and Unmarshal unchanged; and a Save over the record
// replaces it unless it is of a newer format.
func FuzzRecord(f *testing.F) {
	const k = "merchant-1"
	for _, seed := range []string{
		`{"version":1,"key":"merchant-1","access_token":"at","token_type":"bearer","refresh_token":"rt","expiry":"2030-01-01T00:00:00Z","expires_in":3600,"scope":"order_read"}`,
		`{"version":2,"key":"merchant-1","access_token":"SECRET-at","refresh_token":"SECRET-rt","expiry":1893456000}`,
		`{"version":99999999999999999999999,"refresh_token":"SECRET-rt"}`,
		`{"version":0,"key":"merchant-1","access_token":"SECRET-at"}`,
		`{"version":1,"key":"merchant-1","access_token":"at","expires_in":2592000,"extras":{"merchant_id":"M1","short_lived":"false"}}`,
		`{"version":1,"key":"merchant-1","access_token":"at","extras":{"":"","ucoauth_extras":"x"}}`,
		`{"version":-1,"key":"merchant-1","access_token":"SECRET-at"}`,
		`{"version":1.0,"key":"merchant-1","access_token":"SECRET-at"}`,
		`{"version":"1","key":"merchant-1","access_token":"SECRET-at"}`,
		`{"version":1,"key":"other","access_token":"SECRET-at","refresh_token":"SECRET-rt"}`,
		`{"version":1,"key":"merchant-1","access_token":"SECRET-at","expiry":"3000-01-01T00:00:00Z","expires_in":9223372036854775807}`,
		`{"version":1,"key":"merchant-1","access_token":"SECRET-at","expiry":"9999-12-31T23:59:59.999999999+14:00","expires_in":-9223372036854775808}`,
		`{"version":1,"key":"merchant-1","access_token":"SECRET-at","expiry":"0000-01-01T00:00:00-23:59"}`,
		`{"version":1,"key":"merchant-1","access_token":"SECRET-at","expiry":"2200-01-01T00:00:00Z"}`,
		`{"version":1,"key":"merchant-1","access_token":"SECRET-at","expires_in":1e400}`,
		"{\"version\":1,\"key\":\"merchant-1\",\"access_token\":\"\xff\xfeSECRET\"}",
		`{"version":1,"key":"merchant-1","access_token":"\ud800SECRET"}`,
		`{"version":1,"key":"merchant-1","access_token":{"nested":["SECRET",{"deeper":[[[[]]]]}]}}`,
		`{"version":1,"Version":2,"KEY":"merchant-1","Access_Token":"SECRET-at"}`,
		`{"version":1,"version":1,"key":"merchant-1","key":"merchant-1","access_token":"SECRET-at"}`,
		`{"version":1,"key":"SECRET-at","access_token":"SECRET-at"}`,
		`{"version":1,"key":"merchant-1","access_token":"SECRET-at","scope":"SECRET-rt","token_type":"SECRET"}`,
		`[{"version":1}]`, `null`, `"SECRET"`, `{`, ``, "\x00", `{"version":1}SECRET`,
		`{"version":1,"key":"merchant-1","access_token":"SECRET-at"} {"version":2}`,
		`{"version":2,"key":"merchant-1","access_token":"","revoked":[{"grant":"","at":"2999-01-01T00:00:00Z"}]}`,
		`{"version":2,"key":"merchant-1","access_token":"","revoked":[{"grant":"g-x","at":"2000-01-01T00:00:00Z"}]}`,
		`{"version":2,"key":"merchant-1","access_token":"SECRET-at","grant":"g-y","revoked":[{"grant":"","at":"2999-01-01T00:00:00Z"}]}`,
		`{"version":1,"key":"merchant-1","access_token":"SECRET-at","revoked":[{"grant":"","at":"2999-01-01T00:00:00Z"}]}`,
	} {
		f.Add(k, []byte(seed))
	}
	f.Add("\xff", []byte(`{"version":1,"key":"\ufffd","access_token":"SECRET-at"}`))
	f.Add("", []byte(`{"version":1,"key":"","access_token":"SECRET-at"}`))
	f.Add("SECRET-at", []byte(`{"version":1,"key":"SECRET-at","access_token":"SECRET-at","expiry":"2999-01-01T00:00:00Z"}`))

	f.Fuzz(func(t *testing.T, key string, data []byte) {
		tok, err := Unmarshal(key, data)
		if err != nil {
			if tok != nil {
				t.Fatalf("a token with an error: %v", err)
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNewerFormat) && !errors.Is(err, ErrInvalidKey) &&
				!errors.Is(err, ucoauth.ErrTokenNotFound) { // a tombstone
				t.Fatalf("untyped error: %v", err)
			}
			if msg := digits.ReplaceAllString(err.Error(), "#"); !unmarshalMessages[msg] {
				t.Fatalf("unexpected message, which may echo the record: %q", err.Error())
			}
		} else {
			checkLoaded(t, tok)
			b, err := Marshal(key, tok)
			if err != nil {
				t.Fatalf("a loaded token must marshal: %v", err)
			}
			again, err := Unmarshal(key, b)
			if err != nil {
				t.Fatalf("a marshalled token must load: %v", err)
			}
			sameToken(t, tok, again)
		}

		// Later than any loaded token may expire, and still real.
		fresh := (&oauth2.Token{AccessToken: "fresh", Expiry: time.Now().Add(ucoauth.MaxProviderLifetime + time.Minute)}).WithExtra(map[string]any{"scope": "s"})
		out, serr := EncodeOverRaw(key, data, fresh)
		switch {
		case errors.Is(err, ErrNewerFormat):
			if !errors.Is(serr, ErrNewerFormat) {
				t.Fatalf("a newer record was not protected: %v", serr)
			}
		case errors.Is(err, ErrInvalidKey):
			if !errors.Is(serr, ErrInvalidKey) {
				t.Fatalf("an invalid key was not refused: %v", serr)
			}
		case errors.Is(serr, ucoauth.ErrRevoked):
			// Only a record carrying a live revocation refuses a token with
			// no grant ID.
			if _, revoked, rerr := Decode(key, data); rerr != nil || !IsRevoked(Live(revoked, time.Now()), "") {
				t.Fatalf("a token refused as revoked over a record without a live revocation: %v", serr)
			}
		case serr != nil:
			t.Fatalf("a fresh token must replace a corrupt or older record: %v", serr)
		default:
			got, err := Unmarshal(key, out)
			if err != nil || got.AccessToken != "fresh" {
				t.Fatalf("the saved record does not load: %v", err)
			}
			if tok != nil && tok.RefreshToken != "" && got.RefreshToken != tok.RefreshToken {
				t.Fatal("the stored refresh token was dropped")
			}
		}
		if serr != nil && len(data) > 0 {
			var probe map[string]any
			if json.Unmarshal(data, &probe) == nil {
				for _, field := range []string{"access_token", "refresh_token"} {
					if s, ok := probe[field].(string); ok && len(s) >= 6 && strings.Contains(serr.Error(), s) &&
						!strings.Contains(strings.ToLower(allMessages), strings.ToLower(s)) {
						t.Fatalf("Save's error echoes the stored %s", field)
					}
				}
			}
		}
	})
}

// allMessages is the text of every message, for telling an echoed secret
// from a secret that happens to be a word of a message.
var allMessages = func() string {
	var b strings.Builder
	for m := range unmarshalMessages {
		b.WriteString(m + "\n")
	}
	return b.String() + "; not overwriting it"
}()

// checkLoaded checks the bounds every loaded token keeps.
func checkLoaded(t *testing.T, tok *oauth2.Token) {
	t.Helper()
	if tok.AccessToken == "" {
		t.Fatal("a loaded token has no access token")
	}
	if tok.Expiry.After(time.Now().Add(ucoauth.MaxProviderLifetime)) {
		t.Fatalf("loaded expiry %v is beyond now+MaxProviderLifetime", tok.Expiry)
	}
	if tok.ExpiresIn < 0 || tok.ExpiresIn > int64(ucoauth.MaxProviderLifetime/time.Second) {
		t.Fatalf("loaded expires_in %d is out of bounds", tok.ExpiresIn)
	}
}

func sameToken(t *testing.T, a, b *oauth2.Token) {
	t.Helper()
	if a.AccessToken != b.AccessToken || a.RefreshToken != b.RefreshToken || a.TokenType != b.TokenType ||
		!a.Expiry.Equal(b.Expiry) || a.ExpiresIn != b.ExpiresIn || a.Extra("scope") != b.Extra("scope") ||
		!maps.Equal(ucoauth.ProviderExtras(a), ucoauth.ProviderExtras(b)) {
		t.Fatal("the token changed in a Marshal/Unmarshal round trip")
	}
}

package ucoauth

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// Secrets seeded into the request and into the bodies below: none may reach
// an error in any encoding.
var fuzzSecrets = []string{
	"client-S3cret+/=&x",  // the client secret
	"rt-OLD+sent/=?%41",   // the refresh token sent
	"simple-KEY-1234",     // the simple key
	"rt-NEW\"rotated\\+/", // a new refresh token in a body
	"at-NEW<&>+/=",        // a new access token in a body
}

func fuzzRedactor() *redactor {
	r := newRedactor(fuzzSecrets[:3]...)
	r.add("client-1:" + url.QueryEscape(fuzzSecrets[0]))
	return r
}

func tokenBody(fields string) string { return "{" + fields + "}" }

func FuzzTokenResponse(f *testing.F) {
	at, rt := jsonStr(fuzzSecrets[4]), jsonStr(fuzzSecrets[3])
	for _, exp := range []string{`"0.001"`, `"1e-300"`, `0.0001`, `""`, `" 3600"`, `"3600.0"`, `null`, `"-5"`, `"abc"`,
		`"99999999999999"`, `1e400`, `-1e400`, `"NaN"`, `"Inf"`, `[3600]`, `{"s":3600}`, `"3600"`, `3600`, `true`} {
		f.Add(200, tokenBody(`"access_token":`+at+`,"token_type":"bearer","refresh_token":`+rt+`,"expires_in":`+exp))
	}
	for _, b := range []string{
		tokenBody(`"ACCESS_TOKEN":` + at + `,"access_token":"a1234"`),
		tokenBody(`"ACCESS_TOKEN":` + at),
		tokenBody(`"access_token":"a1234","token_type":"bearer\r\nX-Evil: 1"`),
		tokenBody(`"access_token":"a1234","token_type":"be arer"`),
		tokenBody(`"access_token":"a1234","refresh_token":"   "`),
		tokenBody(`"access_token":"a1234","refresh_token":""`),
		tokenBody(`"access_token":"a1234","refresh_token":[` + rt + `]`),
		tokenBody(`"access_token":{"t":` + at + `}`),
		tokenBody(`"access_token":"a1234","refresh_token":` + rt + `,"refresh_token":"other-rt-5678"`),
		tokenBody(`"access_token":"a1234","access_token":"a1234"`),
		tokenBody(`"access_token":"a\r\nb"`),
		tokenBody(`"refresh_token":` + rt + `,"error":` + rt + `,"error_description":"you sent ` + url.QueryEscape(fuzzSecrets[1]) + `","error_uri":` + jsonStr(fuzzSecrets[0])),
		tokenBody(`"error":{"developer_message":` + jsonStr(fuzzSecrets[2]) + `,"error_code":` + jsonStr(fuzzSecrets[1]) + `}`),
		tokenBody(`"error":"invalid_grant","refresh_token":[` + rt + `],"access_token":` + at + `,"error_description":` + jsonStr(fuzzSecrets[3]+fuzzSecrets[4])),
		// Echoes of the client secret in binary encodings: base64 (padded
		// or not, URL-safe, inside a longer text), hex, uppercase \u.
		tokenBody(`"error":"invalid_client","error_description":"` + base64.RawStdEncoding.EncodeToString([]byte(fuzzSecrets[0])) + `"`),
		tokenBody(`"error":"invalid_client","error_description":"` + base64.URLEncoding.EncodeToString([]byte("x="+fuzzSecrets[0])) + `"`),
		tokenBody(`"error":"invalid_client","error_description":"` + hex.EncodeToString([]byte(fuzzSecrets[1])) + `"`),
		tokenBody(`"error":"invalid_client","error_description":` + jsonStr(`at-NEW\u003C\u0026\u003E+/=`) + `,"access_token":` + at),
		`access_token=` + url.QueryEscape(fuzzSecrets[4]) + `&expires_in=3600`,
		``, `null`, `[]`, `"x"`, `{`, `{}{}`, `{"a":1} x`,
		// JSON types that are no token: false must never replace a refresh
		// token, a number is no access token.
		tokenBody(`"access_token":"a1234","refresh_token":false,"expires_in":3600`),
		tokenBody(`"access_token":"a1234","refresh_token":0,"token_type":true,"scope":7`),
		tokenBody(`"access_token":false,"refresh_token":` + rt),
		tokenBody(`"access_token":12345678,"refresh_token":` + rt),
		tokenBody(`"ACCESS_TOKEN":true,"access_token":"a1234","Refresh_Token":` + rt),
		// Many strings under token keys and lookalikes: the redactor's
		// work stays bounded.
		hostileStrings("token_noise", 2000, `"access_token":"a1234","refresh_token":`+rt),
		hostileStrings("id_token", 2000, `"error":"invalid_request","error_description":`+rt),
		hostileStrings("refresh_token", 500, `"access_token":`+at),
		hostileStrings("code", 300, `"error":"invalid_grant","refresh_token":`+rt+`,"error_description":"x `+fuzzSecrets[3]+`"`),
	} {
		f.Add(200, b)
		f.Add(400, b)
	}
	f.Add(429, `{}`)
	f.Add(401, ``)
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 100 || status > 999 {
			return
		}
		red := fuzzRedactor()
		sent := time.Unix(1_700_000_000, 0)
		hdr := http.Header{"Uc-Rest-Error": {body}, "Uc-Rest-Error-Merchant-Id": {body}, "Retry-After": {body}}
		tok, err := func() (*oauth2.Token, error) {
			w, err := decode(opToken, &response{status: status, header: hdr, body: []byte(body)}, red, time.Now())
			if err != nil {
				return nil, err
			}
			return tokenFromResponse(w, sent, red)
		}()
		if tok != nil {
			if d := tok.Expiry.Sub(sent); d < MinLifetime || d > MaxLifetime {
				t.Fatalf("lifetime %v outside [MinLifetime, MaxLifetime]", d)
			}
			if strings.TrimSpace(tok.AccessToken) == "" || !headerSafe(tok.AccessToken) {
				t.Fatalf("unusable access token served")
			}
			if !isToken(tok.TokenType) {
				t.Fatalf("token_type %q is not an RFC 7230 token", tok.TokenType)
			}
			if tok.RefreshToken != "" && strings.TrimSpace(tok.RefreshToken) == "" {
				t.Fatalf("blank refresh token kept")
			}
		}
		if err == nil {
			return
		}
		var e *Error
		if errors.As(err, &e) && (e.RetryAfter < 0 || e.RetryAfter > MaxRetryAfter) {
			t.Fatalf("RetryAfter %v outside [0, MaxRetryAfter]", e.RetryAfter)
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			out := fmt.Sprintf(verb, err)
			for _, s := range fuzzSecrets {
				if !red.has(s) {
					continue // a body secret outside any token field is unknowable
				}
				for _, enc := range encodings(s) {
					if strings.Contains(out, enc) {
						t.Fatalf("secret %q (as %q) in %s: %s", s, enc, verb, out)
					}
				}
			}
		}
	})
}

func FuzzRetryAfter(f *testing.F) {
	for _, v := range []string{"", "0", "7", "-5", "1.5", "10s", " 12 ", "3600", "3601", "9223372036", "9223372037",
		"99999999999", "99999999999999999999999999", "Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT",
		"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "garbage"} {
		f.Add(v)
	}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, v string) {
		if d := retryAfter(v, now); d < 0 || d > MaxRetryAfter {
			t.Fatalf("retryAfter(%q) = %v, outside [0, MaxRetryAfter]", v, d)
		}
	})
}

// hostileStrings is a body with n distinct short strings in an array under
// key, after the fields given.
func hostileStrings(key string, n int, fields string) string {
	var b strings.Builder
	b.WriteString("{" + fields + `,"` + key + `":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%06x"`, i)
	}
	b.WriteString("]}")
	return b.String()
}

func jsonStr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// FuzzRevokeAnswer: whatever a revoke endpoint answers, the library never
// panics, never quotes a secret, and never takes for a success an answer
// that a plain JSON reading says refused ("successful" not true) or that is
// not a 2xx.
func FuzzRevokeAnswer(f *testing.F) {
	at := jsonStr(fuzzSecrets[4])
	for _, b := range []string{
		``, `ok`, `{}`, `[]`, `null`, `{"successful":true}`, `{"successful":"true"}`, `{"successful":false}`,
		`{"successful":"false","message":"nope"}`, `{"successful":false,"message":["nope"]}`, `{"successful":false} x`,
		`{"successful":false,"successful":true}`, `{"successful":[true]}`, `{"successful":true} x`,
		`{"error":"server_error","access_token":{}}`, `{"error":null,"message":{}}`, `{"error":"invalid_token"}`,
		`{"successful":false,"message":` + at + `,"access_token":` + at + `}`,
		`{"error":{"developer_message":` + jsonStr(fuzzSecrets[2]) + `,"error_code":"invalid_token"}}`,
		`{"successful":false,"message":"you sent ` + url.QueryEscape(fuzzSecrets[1]) + `"}`,
	} {
		for _, status := range []int{200, 204, 400, 401, 404, 405, 410, 429, 500} {
			f.Add(status, b)
		}
	}
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 100 || status > 999 || (status >= 300 && status < 400) {
			return // do refuses a redirect before any reading
		}
		red := fuzzRedactor()
		hdr := http.Header{"Uc-Rest-Error": {body}, "Retry-After": {body}}
		err := revokeAnswer(&response{status: status, header: hdr, body: []byte(body)}, red, time.Now())
		if err == nil {
			if status < 200 || status >= 300 {
				t.Fatalf("HTTP %d taken for a revoke", status)
			}
			var m map[string]any
			if json.Unmarshal([]byte(body), &m) == nil {
				if v, ok := m["successful"]; ok && v != true && v != "true" {
					t.Fatalf("successful=%v taken for a revoke", v)
				}
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Op != opRevoke {
			t.Fatalf("not a revoke *Error: %v", err)
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%q"} {
			out := fmt.Sprintf(verb, err)
			for _, s := range fuzzSecrets[:3] {
				for _, enc := range encodings(s) {
					if strings.Contains(out, enc) {
						t.Fatalf("secret %q (as %q) in %s: %s", s, enc, verb, out)
					}
				}
			}
		}
	})
}

package ucoauth_test

// Guarantees of the wire layer against hostile or sloppy token endpoints,
// from an adversarial review. Each failed before its fix, except
// TestTokenAfterPaddingIsStillScrubbed, which guards the bound on what the
// redactor collects from one answer.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/internal/redact"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// paddedTokenBody is a 2xx token answer padded to just under the 1 MiB cap
// with n distinct short strings under a key that contains "token".
func paddedTokenBody(n int) string {
	var b strings.Builder
	b.WriteString(`{"access_token":"AT-1-xxxxxxxx","refresh_token":"RT-1-yyyyyyyy","expires_in":3600,"token_noise":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%06x"`, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// TestHugeSecretListStaysLinear: an answer of ~116,000 short strings under
// a key containing "token" (just under the 1 MiB cap) is parsed well within
// the caller's deadline: what the redactor collects is bounded and deduped
// through a set, not a quadratic scan.
func TestHugeSecretListStaysLinear(t *testing.T) {
	n := (1<<20 - 200) / 9
	body := paddedTokenBody(n)
	require.Less(t, len(body), 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	cfg := &oauth2.Config{ClientID: "cid", Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	start := time.Now()
	tok, err := ucoauth.Exchange(t.Context(), cfg, "code-abcdef")
	took := time.Since(start)
	t.Logf("%d strings, %d bytes: Exchange took %s (the bound is checked by TestAnswerSecretsAreBounded)", n, len(body), took)
	require.NoError(t, err)
	assert.Equal(t, "AT-1-xxxxxxxx", tok.AccessToken, "padding does not spoil the answer's own token")
}

// TestPaddedErrorAnswerParsesAndPrintsFast: the same padding in a 400
// answer costs little to parse and little to print: the replacer is built
// once, from a bounded set of secrets, not once per Error() call.
func TestPaddedErrorAnswerParsesAndPrintsFast(t *testing.T) {
	for _, key := range []string{"token_noise", "id_token", "refresh_token"} {
		t.Run(key, func(t *testing.T) {
			var b strings.Builder
			b.WriteString(`{"error":"invalid_request","` + key + `":[`)
			const n = 30000
			for i := range n {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `"%06x"`, i)
			}
			b.WriteString(`]}`)
			body := b.String()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(400)
				_, _ = io.WriteString(w, body)
			}))
			defer srv.Close()
			cfg := &oauth2.Config{ClientID: "cid", Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
			start := time.Now()
			_, err := ucoauth.Exchange(context.Background(), cfg, "code-abcdef")
			parse := time.Since(start)
			require.Error(t, err)
			start = time.Now()
			_ = err.Error()
			first := time.Since(start)
			start = time.Now()
			for range 100 {
				_ = err.Error()
			}
			more := time.Since(start)
			// The cost bounds are checked by structure, not by the clock,
			// in TestAnswerSecretsAreBounded and TestReplacerIsBuiltOnce.
			t.Logf("%d strings (%d bytes): Exchange %s, first err.Error() %s, 100 more %s", n, len(body), parse, first, more)
			var ue *ucoauth.Error
			assert.ErrorAs(t, err, &ue, "a hostile answer is still a typed error")
			assert.NotContains(t, err.Error(), `"000001"`, "the padding under a token key is never quoted")
		})
	}
}

// TestTokenAfterPaddingIsStillScrubbed: padding nested under one token key
// cannot push the top-level token of another out of the redactor's bounded
// set: a server echoing its own new refresh token in an error has it
// scrubbed.
func TestTokenAfterPaddingIsStillScrubbed(t *testing.T) {
	const rt = "RT-after-the-padding-1234"
	var b strings.Builder
	b.WriteString(`{"code":{"nested":["AT-nested-5678"]},"id_token":[`)
	for i := range 1000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"pad-%06x"`, i)
	}
	b.WriteString(`],"refresh_token":"` + rt + `","error":"server_error","error_description":"issued ` + rt + ` and AT-nested-5678"}`)
	rs := newRaw(t, 400, b.String(), "Content-Type", "application/json")
	_, err := ucoauth.Exchange(t.Context(), rs.config("client-secret-1"), "code-1")
	require.Error(t, err)
	out := printed(err)
	assert.NotContains(t, out, rt)
	assert.NotContains(t, out, "AT-nested-5678", "a token nested under a token key is scrubbed too")
	assert.Contains(t, out, redact.Placeholder)
}

// TestNonStringRefreshTokenKeepsStoredOne: "refresh_token": false (or a
// number) is no token: the stored refresh token is kept, so the next
// refresh sends the real one, and the anomaly is reported as
// ErrBadTokenField.
func TestNonStringRefreshTokenKeepsStoredOne(t *testing.T) {
	for _, v := range []string{"false", "true", "0", "12345678"} {
		t.Run(v, func(t *testing.T) {
			var sent atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				sent.Store(r.PostForm.Get("refresh_token"))
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"access_token":"AT-1-xxxxxxxx","refresh_token":`+v+`,"token_type":"bearer","expires_in":3600}`)
			}))
			defer srv.Close()
			cfg := &oauth2.Config{ClientID: "cid", Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
			store := tokenstore.NewMemory()
			require.NoError(t, store.Save(context.Background(), "m", &oauth2.Token{AccessToken: "AT-0-xxxxxxxx",
				RefreshToken: "RT-0-the-real-one", TokenType: "bearer", Expiry: time.Now().Add(-time.Minute)}))
			events := make(chan ucoauth.RefreshEvent, 4)
			src := ucoauth.NewTokenSource(cfg, store, "m", ucoauth.WithRefreshHook(func(e ucoauth.RefreshEvent) { events <- e }))
			defer src.Close()
			tok, err := src.Token()
			require.NoError(t, err)
			assert.Equal(t, "AT-1-xxxxxxxx", tok.AccessToken)
			assert.Equal(t, "RT-0-the-real-one", sent.Load())
			assert.Equal(t, "RT-0-the-real-one", tok.RefreshToken)
			got, err := store.Load(context.Background(), "m")
			require.NoError(t, err)
			assert.Equal(t, "RT-0-the-real-one", got.RefreshToken, "the stored refresh token was overwritten by the JSON "+v)
			select {
			case ev := <-events:
				assert.ErrorIs(t, ev.Err, ucoauth.ErrBadTokenField, "the anomaly is reported")
			case <-time.After(10 * time.Second):
				t.Fatal("no refresh event")
			}
		})
	}
}

// TestNonStringRefreshTokenFromExchangeIsAbsentAndLogged: Exchange returns
// the token without a refresh token and logs ErrBadTokenField.
func TestNonStringRefreshTokenFromExchangeIsAbsentAndLogged(t *testing.T) {
	rs := newRaw(t, 200, `{"access_token":"AT-1-xxxxxxxx","refresh_token":false,"token_type":"bearer","expires_in":3600}`,
		"Content-Type", "application/json")
	var logs bytes.Buffer
	ctx := t.Context()
	tok, err := ucoauth.Exchange(ctx, rs.config("client-secret-1"), "code-1", ucoauth.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	assert.Equal(t, "AT-1-xxxxxxxx", tok.AccessToken)
	assert.Empty(t, tok.RefreshToken, "false is no refresh token")
	assert.Contains(t, logs.String(), strings.TrimPrefix(ucoauth.ErrBadTokenField.Error(), "ucoauth: "))
}

// TestNonStringAccessTokenIsUnusable: an access_token that is a JSON number
// or boolean makes the answer unusable: an error, and nothing stored.
func TestNonStringAccessTokenIsUnusable(t *testing.T) {
	for _, v := range []string{"false", "true", "0", "12345678"} {
		t.Run(v, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"access_token":`+v+`,"refresh_token":"RT-1-rotated","token_type":"bearer","expires_in":3600}`)
			}))
			defer srv.Close()
			cfg := &oauth2.Config{ClientID: "cid", Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}

			tok, err := ucoauth.Exchange(t.Context(), cfg, "code-1")
			require.Error(t, err)
			assert.Nil(t, tok)
			assert.ErrorIs(t, err, ucoauth.ErrBadTokenField)

			store := tokenstore.NewMemory()
			old := &oauth2.Token{AccessToken: "AT-0-xxxxxxxx", RefreshToken: "RT-0-the-real-one", TokenType: "bearer",
				Expiry: time.Now().Add(-time.Minute)}
			require.NoError(t, store.Save(t.Context(), "m", old))
			src := ucoauth.NewTokenSource(cfg, store, "m")
			defer src.Close()
			_, err = src.Token()
			require.Error(t, err)
			got, err := store.Load(t.Context(), "m")
			require.NoError(t, err)
			assert.Equal(t, old.AccessToken, got.AccessToken, "nothing stored")
			assert.Equal(t, old.RefreshToken, got.RefreshToken, "nothing stored")
		})
	}
}

// TestNonStringTokenTypeAndScopeAreAbsent: token_type and scope that are not
// JSON strings are ignored; expires_in may be a number.
func TestNonStringTokenTypeAndScopeAreAbsent(t *testing.T) {
	rs := newRaw(t, 200, `{"access_token":"AT-1-xxxxxxxx","refresh_token":"RT-1-yyyy","token_type":true,"scope":12,"expires_in":3600}`,
		"Content-Type", "application/json")
	tok, err := ucoauth.Exchange(t.Context(), rs.config("client-secret-1"), "code-1")
	require.NoError(t, err)
	assert.Equal(t, "Bearer", tok.Type())
	assert.Nil(t, tok.Extra("scope"))
	assert.Equal(t, "RT-1-yyyy", tok.RefreshToken)
	assert.InDelta(t, 3600, time.Until(tok.Expiry).Seconds(), 30)
}

// TestEchoedSecretScrubbedInEveryEncoding: a token endpoint echoing the
// client secret in encodings other than Go's own (lowercase
// percent-encoding, Java's URLEncoder, JSON with an escaped solidus) and in
// Go's own has it scrubbed, under every fmt verb and through slog.
func TestEchoedSecretScrubbedInEveryEncoding(t *testing.T) {
	const secret = "Sec/ret+Val~ue*01"
	echoes := map[string]string{
		"lowercase percent-encoding": "Sec%2fret%2bVal~ue%2a01",
		"java URLEncoder":            "Sec%2Fret%2BVal%7Eue*01",
		"json escaped solidus":       `Sec\/ret+Val~ue*01`,
		"java URLEncoder lowercase":  "Sec%2fret%2bVal%7eue*01",
		"every byte escaped":         "Sec%2Fret%2BVal%7Eue%2A01",
		"raw":                        secret,
		"go query escape":            "Sec%2Fret%2BVal~ue%2A01",
		"json":                       `Sec/ret+Val~ue*01`,
	}
	for name, echo := range echoes {
		t.Run(name, func(t *testing.T) {
			for _, where := range []string{"header", "error_description", "developer_message"} {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					switch where {
					case "header":
						w.Header().Set("UC-REST-ERROR", "bad client_secret="+echo)
						w.WriteHeader(400)
						fmt.Fprintf(w, `{"error":"invalid_client"}`)
					case "error_description":
						w.WriteHeader(400)
						fmt.Fprintf(w, `{"error":"invalid_client","error_description":%q}`, "bad client_secret="+echo)
					default:
						w.WriteHeader(400)
						fmt.Fprintf(w, `{"error":{"developer_message":%q,"error_code":"x"}}`, "bad client_secret="+echo)
					}
				}))
				cfg := &oauth2.Config{ClientID: "cid", ClientSecret: secret,
					Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
				_, err := ucoauth.Exchange(context.Background(), cfg, "code-abcdef")
				srv.Close()
				require.Error(t, err)
				msg := fmt.Sprintf("%v", err)
				assert.NotContains(t, msg, echo, "%s: client secret leaked in an encoding the redactor does not know", where)
				assert.NotContains(t, msg, "ret+Val~ue*01", "%s: client secret leaked (quoted) in an encoding the redactor does not know", where)
				out := printed(err)
				for _, frag := range []string{echo, "ret+Val~ue*01", "ret%2", "ret%2b", `ret\/`, "%7Eue", "%7eue"} {
					assert.NotContains(t, out, frag, "%s: printed under some verb or slog:\n%s", where, out)
				}
				var e *ucoauth.Error
				require.ErrorAs(t, err, &e)
				for _, f := range []string{e.Message, e.Description} {
					assert.NotContains(t, f, echo, "%s: a field keeps the secret", where)
				}
			}
		})
	}
}

// TestLongSecretInLongTextStaysFast: scrubbing costs the text's length
// times the longest secret's; a 1 MiB UC-REST-ERROR header next to a
// 300 KB token of the same answer is scrubbed within a bounded window.
func TestLongSecretInLongTextStaysFast(t *testing.T) {
	long := strings.Repeat("a", 300000)
	body := `{"error":"invalid_request","refresh_token":"` + long + `b","error_description":"` + long + long + `"}`
	rs := newRaw(t, 400, body, "Content-Type", "application/json", "UC-REST-ERROR", strings.Repeat("a", 1<<20))
	start := time.Now()
	_, err := ucoauth.Exchange(t.Context(), rs.config("client-secret-1"), "code-1")
	require.Error(t, err)
	_ = err.Error()
	took := time.Since(start)
	// The cost bound is checked by structure in TestScrubWindowIsBounded.
	t.Logf("Exchange and Error: %s", took)
	assert.NotContains(t, err.Error(), long, "the echoed refresh token is scrubbed")
}

// TestEchoedSecretScrubbedInBinaryEncodings: a server echoing the client
// secret base64-encoded (without padding, URL-safe, or inside the encoding
// of a longer text where it starts at any byte offset), hex-encoded, or
// JSON-escaped the way PHP's JSON_HEX_TAG writes it (uppercase \u003C)
// has it scrubbed too.
func TestEchoedSecretScrubbedInBinaryEncodings(t *testing.T) {
	const secret = "Sec/ret+Val<ue>?~01"
	b64 := func(enc *base64.Encoding, s string) string { return enc.EncodeToString([]byte(s)) }
	echoes := map[string]string{
		"base64 raw":              b64(base64.RawStdEncoding, secret),
		"base64 url":              b64(base64.URLEncoding, secret),
		"base64 raw url":          b64(base64.RawURLEncoding, secret),
		"base64 of a text, +1":    b64(base64.StdEncoding, "x="+secret+"&y=1"),
		"base64 of a text, +2":    b64(base64.StdEncoding, "xy="+secret+"&y=1"),
		"base64 of a text, +3":    b64(base64.StdEncoding, "xyz="+secret+"&y=1"),
		"base64 url of a text":    b64(base64.URLEncoding, "client_secret="+secret),
		"hex":                     hex.EncodeToString([]byte(secret)),
		"HEX":                     strings.ToUpper(hex.EncodeToString([]byte(secret))),
		"php JSON_HEX_TAG":        `Sec\/ret+Val\u003Cue\u003E?~01`,
		"json escaped, upper \\u": `Sec/ret+Val\u003Cue\u003E?~01`,
	}
	for name, echo := range echoes {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("UC-REST-ERROR", "you sent "+echo)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(400)
				fmt.Fprintf(w, `{"error":"invalid_client","error_description":%q}`, "you sent "+echo)
			}))
			defer srv.Close()
			cfg := &oauth2.Config{ClientID: "cid", ClientSecret: secret,
				Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
			_, err := ucoauth.Exchange(t.Context(), cfg, "code-abcdef")
			require.Error(t, err)
			var e *ucoauth.Error
			require.ErrorAs(t, err, &e)
			require.Contains(t, e.Description, "you sent", "the description is kept")
			// The encoded secret, less the one or two characters at each
			// end that it shares with its neighbours.
			core := echo[2 : len(echo)-2]
			if strings.HasPrefix(name, "base64 of a text") || name == "base64 url of a text" {
				core = echo[len(echo)/3 : 2*len(echo)/3]
			}
			out := printed(err)
			assert.NotContains(t, out, core, "printed:\n%s", out)
			assert.NotContains(t, e.Description, core)
			assert.NotContains(t, e.Message, core)
		})
	}
}

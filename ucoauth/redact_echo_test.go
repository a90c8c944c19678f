package ucoauth_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/internal/record"
	"github.com/ucoauth/go-ucoauth/internal/ultracart"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// Server text that the library cuts or rewrites before it is scrubbed must
// not leave a fragment of a secret, nor the secret in another case.

// cutServer serves h as the token and revoke endpoints of a config.
func cutServer(t *testing.T, h http.HandlerFunc) *oauth2.Config {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := ucoauth.NewConfig("client-1", hClientSecret, "https://app.example/cb")
	cfg.Endpoint = ucoauth.EndpointAt(srv.URL)
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	return cfg
}

// A secret longer than the text that is scrubbed, or cut by its end after
// copies of it that scrub to much less, was shown in part: up to 1 KiB of
// the token echoed in error_description and UC-REST-ERROR.
func TestSecretCutByTheScrubWindowIsNotShown(t *testing.T) {
	long := strings.Repeat("LongToken-0123456789.", 1100) // 23 KiB
	mid := strings.Repeat("MidToken-0123456789.", 10)     // 200 bytes
	for name, tc := range map[string]struct{ token, echo string }{
		"longer than the window":  {long, long},
		"cut after shrunk copies": {mid, strings.Repeat(mid, 82)},
		"cut after padding":       {mid, strings.Repeat("p", 16<<10-100) + mid},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := cutServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(ultracart.HeaderRESTError, tc.echo)
				writeJSONBody(w, 400, map[string]string{"error": "invalid_request", "error_description": tc.echo, "error_uri": tc.echo})
			})
			err := ucoauth.Revoke(t.Context(), cfg, tc.token)
			require.Error(t, err)
			out := printed(err)
			assert.NotContains(t, out, "Token-01", "a fragment of the token shows")
			assert.NotContains(t, out, "0123456789.", "a fragment of the token shows")
			assert.Contains(t, out, "invalid_request")
		})
	}
}

// The media type of a Content-Type was shown lowercased, and a hex token
// lowercased is the token.
func TestContentTypeEchoIsScrubbedInItsOwnCase(t *testing.T) {
	const code = "ABCDEF0123456789ABCDEF0123456789"
	cfg := cutServer(t, func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "x/"+r.PostForm.Get("code")+"; charset=utf-8")
		_, _ = w.Write([]byte("not json"))
	})
	_, err := ucoauth.Exchange(t.Context(), cfg, code)
	require.Error(t, err)
	out := strings.ToLower(printed(err))
	assert.NotContains(t, out, strings.ToLower(code[:16]))
	assert.Contains(t, out, "not json")
}

// A Content-Type or a duplicated JSON key was clipped at 1 KiB before the
// error was scrubbed, so a secret the clip cut showed in part.
func TestClippedServerTextLeavesNoFragment(t *testing.T) {
	const code = "code-0123456789-abcdefghij-SECRET"
	for name, answer := range map[string]http.HandlerFunc{
		"Content-Type": func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			w.Header().Set("Content-Type", "text/html; x"+strings.Repeat("a", 1024-12-15)+r.PostForm.Get("code"))
			_, _ = w.Write([]byte("not json"))
		},
		"duplicate key": func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			k := strings.Repeat("a", 1024-15) + r.PostForm.Get("code")
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprintf(w, `{"access_token":"at-1234","%s":1,"%s":2}`, k, k)
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := cutServer(t, answer)
			_, err := ucoauth.Exchange(t.Context(), cfg, code)
			require.Error(t, err)
			assert.NotContains(t, printed(err), code[:10])
		})
	}
}

// DeviceAuth returns what the merchant is shown (the user code and the
// links): a server that echoes the application's client secret or simple
// key in them must not get them printed on a terminal or a page.
func TestDeviceAuthShowsNoCredential(t *testing.T) {
	cfg := cutServer(t, func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		e := r.PostForm.Get("client_secret") + "." + r.Header.Get(ultracart.HeaderSimpleKey)
		writeJSONBody(w, 200, map[string]string{"device_code": "dc-12345678", "user_code": "UC-" + e,
			"verification_uri":          "https://x.example/device?s=" + url.QueryEscape(e),
			"verification_uri_complete": "https://x.example/device/" + url.PathEscape(e) + "?user_code=UC-1234",
			"expires_in":                "600", "interval": "5"})
	})
	da, err := ucoauth.DeviceAuth(t.Context(), cfg, ucoauth.WithSimpleKey(hSimpleKey))
	require.NoError(t, err)
	assert.Equal(t, "dc-12345678", da.DeviceCode)
	assert.Contains(t, da.VerificationURIComplete, "user_code=UC-1234", "the user code stays in the link")
	shown := strings.Join([]string{da.UserCode, da.VerificationURI, da.VerificationURIComplete}, "\n")
	assert.Empty(t, leaks(shown), "shown: %s", shown)
}

// echoingStore fails every save with an error that quotes the token, as a
// store written with fmt.Errorf("saving %v: ...", tok) does, and loads one
// expired token.
type echoingStore struct {
	mu    sync.Mutex
	tok   *oauth2.Token
	saves int
}

func (s *echoingStore) Load(context.Context, string) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok, nil
}

func (s *echoingStore) Save(_ context.Context, _ string, tok *oauth2.Token) error {
	s.mu.Lock()
	s.saves++
	s.mu.Unlock()
	return fmt.Errorf("disk full saving %v (%s, %s)", *tok, url.QueryEscape(tok.RefreshToken), tok.AccessToken)
}

func (s *echoingStore) Delete(context.Context, string) error { return nil }

// A store whose Save error quotes the token it could not save: the
// TokenSource's logs, RefreshEvent, Status and error must not show it.
func TestStoreSaveErrorQuotingTheTokenIsScrubbed(t *testing.T) {
	fake := ucoauthtest.NewServer()
	defer fake.Close()
	old := fake.Issue("M1")
	old.Expiry = time.Now().Add(-time.Minute)
	store := &echoingStore{tok: old}
	var logs syncBuf
	var mu sync.Mutex
	var events []ucoauth.RefreshEvent
	src := ucoauth.NewTokenSource(fake.Config(), store, "M1", ucoauth.WithLogger(newBothLogger(&logs)),
		ucoauth.WithBackoff(time.Millisecond, 5*time.Millisecond),
		ucoauth.WithRefreshHook(func(e ucoauth.RefreshEvent) { mu.Lock(); events = append(events, e); mu.Unlock() }))
	tok, err := src.Token()
	require.NotNil(t, tok, "the refreshed token is served while the save fails: %v", err)
	require.Eventually(t, func() bool {
		store.mu.Lock()
		defer store.mu.Unlock()
		return store.saves >= 5
	}, 30*time.Second, time.Millisecond, "precondition: the background retries ran")
	st := src.Status()
	require.NoError(t, src.Close())

	var out strings.Builder
	out.WriteString(logs.String() + printed(err) + printed(st))
	mu.Lock()
	for _, e := range events {
		out.WriteString(printed(e))
	}
	mu.Unlock()
	require.Contains(t, out.String(), "disk full", "precondition: the store's error is reported")
	for _, secret := range []string{old.AccessToken, old.RefreshToken, tok.AccessToken, tok.RefreshToken} {
		assert.NotContains(t, out.String(), secret)
		assert.NotContains(t, out.String(), url.QueryEscape(secret))
	}
}

// A secret echoed as standard base64 inside a URL (its + and /
// percent-encoded), as base64 in PHP's JSON (its / written \/), or
// HTML-escaped, was not recognised.
func TestEchoedSecretScrubbedInChainedEncodings(t *testing.T) {
	const secret = `cs-???>>>-<s&"cr'et>` // standard base64 "Y3MtPz8/Pj4+..."
	b64 := base64.StdEncoding.EncodeToString([]byte(secret))
	require.True(t, strings.ContainsAny(b64, "+/"), "precondition: %s", b64)
	cfg := cutServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(ultracart.HeaderRESTError, `{"echo":"`+strings.ReplaceAll(b64, "/", `\/`)+`"}`)
		writeJSONBody(w, 400, map[string]string{"error": "invalid_request",
			"error_uri":         "https://x.example/e?b=" + url.QueryEscape(b64) + "&l=" + strings.ToLower(url.QueryEscape(b64)),
			"error_description": "<p>" + html.EscapeString(secret) + " " + strings.ReplaceAll(html.EscapeString(secret), "&#34;", "&quot;") + "</p>"})
	})
	cfg.ClientSecret = secret
	_, err := ucoauth.Exchange(t.Context(), cfg, "code-1234")
	require.Error(t, err)
	out := printed(err)
	assert.NotContains(t, out, "Y3MtPz8", "the secret's base64 shows")

	// The form, base64-encoded, and as JSON in a URL.
	cfg = cutServer(t, func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		j, _ := json.Marshal(r.PostForm)
		writeJSONBody(w, 400, map[string]string{"error": "invalid_request",
			"error_description": base64.StdEncoding.EncodeToString([]byte(r.PostForm.Encode())),
			"error_uri":         "https://x.example/e?form=" + url.QueryEscape(string(j))})
	})
	cfg.ClientSecret = hClientSecret
	_, err = ucoauth.Exchange(t.Context(), cfg, hCode)
	require.Error(t, err)
	out = printed(err)
	for _, s := range []string{hClientSecret, hCode} {
		b64 := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(s)))
		assert.NotContains(t, out, b64[1:len(b64)-4], "the form-encoded secret's base64 shows")
		j, _ := json.Marshal(s)
		assert.NotContains(t, out, url.QueryEscape(string(j[1:len(j)-1])), "the JSON-escaped secret in a URL shows")
	}
	assert.NotContains(t, out, "cr&#39;et")
	assert.NotContains(t, out, "s&amp;")
}

// A scope echoing the token's own values URL-encoded, base64-encoded or
// hex-encoded printed them: only the raw values were replaced.
func TestScopeEchoingATokenEncodedPrintsSafely(t *testing.T) {
	tok := (&oauth2.Token{AccessToken: hNewAccess, RefreshToken: hNewRefresh, Expiry: time.Now().Add(time.Hour)}).WithExtra(map[string]any{
		"scope": "order.read " + url.QueryEscape(hNewRefresh) + " " + base64.StdEncoding.EncodeToString([]byte(hNewAccess)) + " " + fmt.Sprintf("%x", hNewRefresh)})
	out := printed(ucoauth.LogToken(tok)) + printed(ucoauth.RefreshEvent{Key: "m", Token: tok})
	assert.Contains(t, out, "order.read")
	assert.Empty(t, leaks(out), "output:\n%s", out)
	assert.NotContains(t, out, base64.StdEncoding.EncodeToString([]byte(hNewAccess))[:12])
}

// A token answer whose scope echoes the request (the client secret, the
// refresh token sent) stored and printed them: the scope is kept with the
// token, in the store and in every log line about it.
func TestScopeEchoingTheRequestKeepsNoSecret(t *testing.T) {
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		writeJSONBody(w, 200, map[string]string{"access_token": hNewAccess, "refresh_token": hNewRefresh, "expires_in": "3600",
			"scope": "order.read " + r.PostForm.Encode() + " " + r.PostForm.Get("client_secret") + " " + r.PostForm.Get("refresh_token")})
	}))
	defer srv.Close()
	srvURL = srv.URL
	cfg := ucoauth.NewConfig("client-1", hClientSecret, "https://app.example/cb")
	cfg.Endpoint = ucoauth.EndpointAt(srvURL)
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(t.Context(), "m", &oauth2.Token{AccessToken: hAccessSent, RefreshToken: hRefreshSent, Expiry: time.Now().Add(-time.Minute)}))
	var logs syncBuf
	src := ucoauth.NewTokenSource(cfg, store, "m", ucoauth.WithLogger(newBothLogger(&logs)))
	tok, err := src.Token()
	require.NoError(t, err)
	require.NoError(t, src.Close())
	stored, err := store.Load(t.Context(), "m")
	require.NoError(t, err)
	rec, err := record.Marshal("m", stored)
	require.NoError(t, err)
	exchanged, err := ucoauth.Exchange(t.Context(), cfg, hCode)
	require.NoError(t, err)

	out := fmt.Sprint(tok.Extra("scope"), exchanged.Extra("scope")) + string(rec) + logs.String() + printed(ucoauth.LogToken(tok))
	assert.Contains(t, out, "order.read")
	for _, s := range []string{hClientSecret, hRefreshSent, hCode} {
		assert.NotContains(t, out, s)
		assert.NotContains(t, out, url.QueryEscape(s))
	}
}

// TestHugeScopeIsCutNotScrubbedWhole: scrubbing costs the text's length
// times the longest secret's, so a scope (stored and printed with the
// token) is scrubbed only within the bounded window: a 500 KB scope next
// to a 400 KB access token of the same answer is cut, and what the cut
// might have split of the token (here, all of it) is dropped.
func TestHugeScopeIsCutNotScrubbedWhole(t *testing.T) {
	long := strings.Repeat("a", 400000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, 200, map[string]string{"access_token": long + "b", "expires_in": "3600", "scope": "order.read " + long + long[:100000]})
	}))
	defer srv.Close()
	cfg := ucoauth.NewConfig("client-1", hClientSecret, "https://app.example/cb")
	cfg.Endpoint = ucoauth.EndpointAt(srv.URL)
	start := time.Now()
	tok, err := ucoauth.Exchange(t.Context(), cfg, hCode)
	require.NoError(t, err)
	scope, _ := tok.Extra("scope").(string)
	printedScope := printed(ucoauth.LogToken(tok))
	t.Logf("Exchange and printing: %s", time.Since(start))
	assert.LessOrEqual(t, len(scope), 16<<10+3, "the scope is cut at the scrub window")
	assert.NotContains(t, scope, strings.Repeat("a", 1000), "the stored scope holds no long run of the token")
	assert.NotContains(t, printedScope, strings.Repeat("a", 1000), "the printed scope holds no long run of the token")
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

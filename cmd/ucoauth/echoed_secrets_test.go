package main_test

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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"golang.org/x/oauth2"
)

// echoEncodings lists s raw, URL-, JSON-, Go-, hex-, HTML- and
// base64-encoded (at each offset inside a longer text).
func echoEncodings(s string) []string {
	j, _ := json.Marshal(s)
	q := strconv.Quote(s)
	out := []string{s, url.QueryEscape(s), url.PathEscape(s), string(j[1 : len(j)-1]), q[1 : len(q)-1], hex.EncodeToString([]byte(s)),
		strings.ToUpper(hex.EncodeToString([]byte(s))), html.EscapeString(s)}
	for k := 0; k < 3; k++ {
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			e := enc.EncodeToString(append(make([]byte, k), s...))
			start, end := (8*k+5)/6, 8*(k+len(s))/6
			out = append(out, e[start:end])
		}
	}
	return out
}

// echoLeaks lists each secret found in out in any encoding, or as a raw
// fragment of 10 bytes.
func echoLeaks(out string, secrets ...string) []string {
	var found []string
	for _, s := range secrets {
		for _, e := range echoEncodings(s) {
			if len(e) >= 8 && strings.Contains(out, e) {
				found = append(found, fmt.Sprintf("%q as %q", s, e))
			}
		}
		for i := 0; i+10 <= len(s); i++ {
			if strings.Contains(out, s[i:i+10]) {
				found = append(found, fmt.Sprintf("%q fragment %q", s, s[i:i+10]))
				break
			}
		}
	}
	return found
}

// echoRequest is what the hostile UltraCart echoes of a request.
func echoRequest(r *http.Request) string {
	_ = r.ParseForm()
	b, _ := json.Marshal(r.PostForm)
	return r.PostForm.Encode() + " " + string(b) + " " + r.Header.Get("Authorization") + " " + base64.StdEncoding.EncodeToString([]byte(r.PostForm.Encode()))
}

// TestEveryCommandHidesEchoedSecrets: an UltraCart that echoes the whole
// request (the form, JSON-encoded, base64-encoded, the Authorization header)
// in every field and header it has, as an error, a redirect, a page that is
// not JSON, a token answer's scope and odd fields, or a device answer, makes
// no command print the client secret, a token or the device code, in any
// encoding or as a fragment.
func TestEveryCommandHidesEchoedSecrets(t *testing.T) {
	const cs = "CliSecret-Zq9/+x=&y"
	const at, rt = "AccTok-Zq9-0000+/=", "RefTok-Zq9-1111+/="
	const newAT, newRT = "NewAcc-Zq9-2222", "NewRef-Zq9-3333"
	const dc = "DevCode-Zq9-4444"
	secrets := []string{cs, at, rt, newAT, newRT, dc}
	answers := map[string]func(w http.ResponseWriter, r *http.Request){
		"error everywhere": func(w http.ResponseWriter, r *http.Request) {
			e := echoRequest(r)
			w.Header().Set("UC-REST-ERROR", e)
			w.Header().Set("UC-REST-ERROR-MERCHANT-ID", e)
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+e+`"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			b, _ := json.Marshal(map[string]any{"error": e, "error_description": e, "error_uri": "https://x/" + url.PathEscape(e), "error_code": e,
				"developer_message": e, "user_message": e, "nested": map[string]string{"v": e}})
			_, _ = w.Write(b)
		},
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://evil.example/?"+echoRequest(r), 307)
		},
		"not json": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/"+url.QueryEscape(echoRequest(r)))
			_, _ = w.Write([]byte(echoRequest(r)))
		},
		"success with scope echo": func(w http.ResponseWriter, r *http.Request) {
			e := echoRequest(r)
			b, _ := json.Marshal(map[string]any{"access_token": newAT, "refresh_token": newRT, "expires_in": "abc" + e, "token_type": "bearer\n" + e,
				"scope": "order.read " + e + " " + newAT + " " + url.QueryEscape(newRT)})
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
		},
		"device echo": func(w http.ResponseWriter, r *http.Request) {
			e := echoRequest(r)
			if strings.HasSuffix(r.URL.Path, "device/authorize") {
				b, _ := json.Marshal(map[string]any{"device_code": dc, "user_code": "UC " + e, "verification_uri": "https://x/?" + e, "verification_uri_complete": "https://x/c?" + url.QueryEscape(e), "expires_in": "3", "interval": "1"})
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(b)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			b, _ := json.Marshal(map[string]any{"error": "access_denied", "error_description": e})
			_, _ = w.Write(b)
		},
	}
	for name, answer := range answers {
		h := newHostile(t)
		for _, p := range []string{"token", "revoke", "device/authorize"} {
			h.on(p, answer)
		}
		for _, args := range [][]string{{"token", "M1"}, {"token", "-min-validity", "2h", "M1"}, {"refresh", "M1"}, {"revoke", "M1"}, {"status"}, {"status", "-json", "M1"}, {"login", "-key", "M2", "-device", "-timeout", "5s"}} {
			dir := t.TempDir()
			store, err := tokenstore.NewFile(dir)
			require.NoError(t, err)
			err = store.Save(context.Background(), "M1", &oauth2.Token{AccessToken: at, RefreshToken: rt, Expiry: time.Now().Add(-time.Minute)})
			require.NoError(t, err)
			env := baseEnv("UCOAUTH_STORE=file:"+dir, "ULTRACART_BASE_URL="+h.URL+"/rest/v2", "ULTRACART_CLIENT_ID=cid", "ULTRACART_CLIENT_SECRET="+cs)
			r := runCmd(t, env, args...)
			out := r.stdout + r.stderr
			if args[0] == "token" && r.code == 0 {
				out = strings.Replace(r.stdout, newAT, "", 1) + r.stderr
			}
			assert.Empty(t, echoLeaks(out, secrets...), "%s %v (exit %d):\n%s", name, args, r.code, out)
		}
	}
}

// TestRefreshErrorNeverEchoesTheSecret: `ucoauth refresh` against a token
// endpoint that echoes the client secret percent-encoded with lowercase hex
// (as RFC 3986 allows) fails with one line that does not hold the secret.
func TestRefreshErrorNeverEchoesTheSecret(t *testing.T) {
	const secret = "cli/secret+value"
	const echo = "cli%2fsecret%2bvalue"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("UC-REST-ERROR", "unknown client_secret "+echo)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_client"}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	require.NoError(t, store.Save(context.Background(), "M1", &oauth2.Token{AccessToken: "AT-cli-0000", RefreshToken: "RT-cli-0000",
		TokenType: "bearer", Expiry: time.Now().Add(-time.Minute)}))
	r := runCmd(t, baseEnv("UCOAUTH_STORE=file:"+dir, "ULTRACART_BASE_URL="+srv.URL+"/rest/v2",
		"ULTRACART_CLIENT_ID=cid", "ULTRACART_CLIENT_SECRET="+secret), "refresh", "M1")
	t.Logf("exit %d, stderr: %s", r.code, r.stderr)
	assert.NotEqual(t, 0, r.code)
	assert.NotContains(t, r.stderr, echo, "the CLI printed the client secret (percent-encoded)")
	assert.NotContains(t, r.stderr, secret)
}

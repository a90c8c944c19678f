package main_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCommandErrorsReadOnce: each error is one line that starts with
// "ucoauth <command>: " and carries no other "ucoauth:" prefix (a dead
// grant read "ucoauth refresh: ucoauth: token: ..."), and says each thing
// the server said once (UltraCart's message came twice: UC-REST-ERROR and
// error_description hold one text).
func TestCommandErrorsReadOnce(t *testing.T) {
	f := startFake(t)
	dir := t.TempDir()
	tok := connect(t, f, dir, "DEAD")
	// The merchant disconnects: the fake revokes the grant.
	resp, err := http.PostForm(f.base()+"/oauth/revoke", url.Values{"client_id": {clientID}, "client_secret": {clientSecret}, "token": {tok.AccessToken}})
	require.NoError(t, err)
	resp.Body.Close()
	connect(t, f, dir, "M1")

	badSecret := baseEnv("UCOAUTH_STORE=file:"+dir, "ULTRACART_BASE_URL="+f.base(),
		"ULTRACART_CLIENT_ID="+clientID, "ULTRACART_CLIENT_SECRET=wrong-secret")
	unreachable := baseEnv("UCOAUTH_STORE=file:"+dir, "ULTRACART_BASE_URL=http://127.0.0.1:9/rest/v2",
		"ULTRACART_CLIENT_ID="+clientID, "ULTRACART_CLIENT_SECRET="+clientSecret)
	cases := []struct {
		name string
		env  []string
		args []string
		code int
	}{
		{"dead grant", f.env(dir), []string{"refresh", "DEAD"}, 3},
		{"no token", f.env(dir), []string{"token", "NOBODY"}, 3},
		{"revoke of no token", f.env(dir), []string{"revoke", "NOBODY"}, 3},
		{"wrong client secret", badSecret, []string{"refresh", "M1"}, 1},
		{"unreachable", unreachable, []string{"refresh", "M1"}, 1},
	}
	quoted := regexp.MustCompile(`"(?:[^"\\]|\\.){12,}"`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, tc.env, tc.args...)
			assert.Equal(t, tc.code, r.code, r.stderr)
			assert.Empty(t, r.stdout)
			assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
			assert.True(t, strings.HasPrefix(r.stderr, "ucoauth "+tc.args[0]+": "), r.stderr)
			assert.NotContains(t, r.stderr, "ucoauth:", "one prefix: %s", r.stderr)
			seen := map[string]int{}
			for _, q := range quoted.FindAllString(r.stderr, -1) {
				seen[q]++
				assert.Equal(t, 1, seen[q], "said twice: %s in %s", q, r.stderr)
			}
			noSecrets(t, r.stderr, tok.AccessToken, tok.RefreshToken, "wrong-secret")
			t.Log(r.stderr)
		})
	}
}

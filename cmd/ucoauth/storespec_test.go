package main_test

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"golang.org/x/oauth2"
)

// TestStoreSpecPasswordsAreNeverShown: a store spec in an error hides every
// password it may hold, not only the user info's: a libpq-style
// ?password=, a key=value DSN, and a password whose unescaped / or # made
// url.Parse read its rest as the path or the fragment (which the drivers then
// quote as a database name).
func TestStoreSpecPasswordsAreNeverShown(t *testing.T) {
	closed := closedPort(t)
	for _, spec := range []string{
		"postgres://u@" + closed + "/db?sslmode=disable&password=Pw0rdInQuery",
		"postgres://u@" + closed + "/db?sslpassword=Pw0rdInQuery",
		"postgres:host=127.0.0.1 port=1 password=Pw0rdInQuery",
		"postgres://u:12/Pw0rdInPath@" + closed + "/db",
		"redis://u:12/Pw0rdInPath@" + closed + "/0",
		"redis://u:1#Pw0rdInFragment@" + closed,
		"mysql://u:12/Pw0rdInPath@" + closed + "/db",
		"mongodb://u@db/x?password=Pw0rdInQuery",
		"mongodb://127.0.0.1:notaport/x?password=Pw0rdUnparsed", // url.Parse fails, no @
	} {
		t.Run(spec, func(t *testing.T) {
			env := baseEnv("UCOAUTH_STORE="+spec, "ULTRACART_CLIENT_ID=c", "ULTRACART_BASE_URL=http://"+closed+"/rest/v2")
			for _, cmd := range [][]string{{"status"}, {"token", "M1"}} {
				r := runCmd(t, env, cmd...)
				assert.NotEqual(t, 0, r.code)
				assert.NotEmpty(t, r.stderr)
				assert.NotContains(t, r.stderr+r.stdout, "Pw0rd", "a store password is shown")
			}
		})
	}
}

// TestStatusScopeEchoingTheTokensShowsNone: the scope is the server's text,
// stored with the token; one that echoes the tokens (raw, URL-encoded,
// base64) was printed by status, as a table and as JSON.
func TestStatusScopeEchoingTheTokensShowsNone(t *testing.T) {
	const at, rt = "AT-ScopeEcho+/=1234", "RT-ScopeEcho+/=5678"
	dir := t.TempDir()
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	scope := strings.Join([]string{"order.read", at, url.QueryEscape(rt), base64.StdEncoding.EncodeToString([]byte(rt)), fmt.Sprintf("%x", at)}, " ")
	tok := (&oauth2.Token{AccessToken: at, RefreshToken: rt, Expiry: time.Now().Add(time.Hour)}).WithExtra(map[string]any{"scope": scope})
	require.NoError(t, store.Save(t.Context(), "M1", tok))
	env := baseEnv("UCOAUTH_STORE=file:" + dir)
	for _, args := range [][]string{{"status"}, {"status", "-json"}, {"status", "M1"}} {
		r := runCmd(t, env, args...)
		require.Equal(t, 0, r.code, r.stderr)
		require.Contains(t, r.stdout, "order.read", "precondition: the scope is shown")
		noSecrets(t, r.stdout+r.stderr, at, rt)
	}
}

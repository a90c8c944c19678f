package main_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
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

package main_test

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/tokenfile"
	"github.com/ucoauth/go-ucoauth/tokenstore"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// oneLineError asserts r failed with exit status code, nothing on stdout and
// exactly one line on stderr that starts with prefix.
func oneLineError(t *testing.T, r result, code int, prefix string) {
	t.Helper()
	assert.Equal(t, code, r.code, "stderr: %s", r.stderr)
	assert.Empty(t, r.stdout, "nothing on stdout")
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
	assert.True(t, strings.HasPrefix(r.stderr, prefix), "%q starts with %q", r.stderr, prefix)
}

// TestStoreErrorsAreOneLine: a store that cannot be reached or read makes
// `token` fail with status 1, nothing on stdout and one line on stderr: no
// driver chatter (go-redis logs every failed dial by itself).
func TestStoreErrorsAreOneLine(t *testing.T) {
	env := baseEnv("UCOAUTH_STORE=redis://"+closedPort(t)+"/0", "ULTRACART_CLIENT_ID=c",
		"ULTRACART_BASE_URL=http://"+closedPort(t)+"/rest/v2")
	for _, cmd := range []string{"token", "refresh", "revoke"} {
		r := runCmd(t, env, cmd, "M1")
		oneLineError(t, r, 1, "ucoauth "+cmd+": ")
		assert.Contains(t, r.stderr, "connection refused")
	}
	r := runCmd(t, env, "status", "M1")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "ucoauth status: 1 of 1 keys missing or unreadable\n", r.stderr, "the table says why, stderr only that it failed")

	// A corrupt record in a file store.
	dir := t.TempDir()
	_, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(tokenfile.Token(dir, "M1"), []byte(`{"version":1,"key":"M1","access_token":`), 0o600))
	r = runCmd(t, baseEnv("UCOAUTH_STORE=file:"+dir, "ULTRACART_CLIENT_ID=c", "ULTRACART_BASE_URL=http://"+closedPort(t)+"/rest/v2"), "token", "M1")
	oneLineError(t, r, 1, "ucoauth token: ")
	assert.Contains(t, r.stderr, "corrupt")
}

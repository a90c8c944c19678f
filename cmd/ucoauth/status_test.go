package main_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/tokenfile"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

func TestStatusShowsStateNeverTokens(t *testing.T) {
	f := startFake(t)
	dir := t.TempDir()
	m1 := connect(t, f, dir, "M1")
	m2 := connect(t, f, dir, "M2")
	expired := *m2
	expired.Expiry = time.Now().Add(-time.Minute)
	overwrite(t, dir, "M2", &expired)
	m3 := connect(t, f, dir, "M3\nevil")
	stale := *m3
	stale.Expiry = time.Now().Add(2 * time.Minute)
	overwrite(t, dir, "M3\nevil", &stale)
	secrets := []string{clientSecret, m1.AccessToken, m1.RefreshToken, m2.AccessToken, m2.RefreshToken, m3.AccessToken, m3.RefreshToken}

	r := runCmd(t, f.env(dir), "status")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 4, r.stdout)
	assert.Regexp(t, `^KEY\s+STATE\s+EXPIRES\s+SCOPE\s+ACCESS\s+REFRESH$`, lines[0])
	assert.Regexp(t, `^M1\s+fresh\s+\S+ \(in (1h0m0s|59m\d+s)\)\s+order_read\s+`+ucoauth.Fingerprint(m1.AccessToken)+`\s+`+ucoauth.Fingerprint(m1.RefreshToken)+`$`, lines[1])
	assert.Regexp(t, `^M2\s+expired\s+\S+ \(1m\d+s ago\)`, lines[2])
	assert.Regexp(t, `^"M3\\nevil"\s+stale\s+`, lines[3], "a key cannot break the table")
	noSecrets(t, r.stdout+r.stderr, secrets...)

	r = runCmd(t, f.env(dir), "status", "-json", "M1", "M2")
	require.Equal(t, 0, r.code, r.stderr)
	var rows []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows), r.stdout)
	require.Len(t, rows, 2)
	assert.Equal(t, "M1", rows[0]["key"])
	assert.Equal(t, "fresh", rows[0]["state"])
	assert.Equal(t, "order_read", rows[0]["scope"])
	assert.Equal(t, ucoauth.Fingerprint(m1.AccessToken), rows[0]["access_fingerprint"])
	assert.Equal(t, ucoauth.Fingerprint(m1.RefreshToken), rows[0]["refresh_fingerprint"])
	assert.InDelta(t, 3600, rows[0]["expires_in_seconds"], 120)
	assert.Equal(t, "expired", rows[1]["state"])
	noSecrets(t, r.stdout+r.stderr, secrets...)

	// A named key that is missing, and a corrupt record: shown, exit 1.
	_, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(tokenfile.Token(dir, "M1"), []byte(`{"version":1,"key":"M1","access_token":`+"\n"), 0o600))
	r = runCmd(t, f.env(dir), "status", "M1", "GONE")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stdout, "GONE")
	assert.Regexp(t, `M1\s+error\s+`, r.stdout)
	assert.Regexp(t, `GONE\s+missing\s+`, r.stdout)
	assert.Equal(t, "ucoauth status: 2 of 2 keys missing or unreadable\n", r.stderr)
	noSecrets(t, r.stdout+r.stderr, secrets...)
}

package main_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
)

func TestUsageErrorsExit2(t *testing.T) {
	good := baseEnv("UCOAUTH_STORE=file:"+t.TempDir(), "ULTRACART_CLIENT_ID=c", "ULTRACART_BASE_URL=http://127.0.0.1:9/rest/v2")
	for _, c := range []struct {
		name string
		env  []string
		args []string
		says string
	}{
		{"no command", good, nil, "Usage:"},
		{"unknown command", good, []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown flag", good, []string{"token", "-bogus", "K"}, "flag provided but not defined: -bogus"},
		{"token without a key", good, []string{"token"}, "a key is required"},
		{"token with two keys", good, []string{"token", "A", "B"}, "one key only"},
		{"refresh without a key", good, []string{"refresh"}, "a key is required"},
		{"revoke without a key", good, []string{"revoke"}, "a key is required"},
		{"login without -key", good, []string{"login", "-no-browser"}, "-key is required"},
		{"login listening beyond loopback", good, []string{"login", "-key", "K", "-listen", "0.0.0.0:0"}, "-listen must be a loopback address"},
		{"no client ID", baseEnv("UCOAUTH_STORE=file:" + t.TempDir()), []string{"token", "K"}, "the client ID is required"},
		{"no store", baseEnv("ULTRACART_CLIENT_ID=c"), []string{"token", "K"}, "the token store is required"},
		{"plain http beyond loopback", good, []string{"token", "-base-url", "http://example.com/rest/v2", "K"}, "plain-http"},
		{"unknown store", good, []string{"status", "-store", "mongodb://u:hunter2@db/x"}, `unknown token store "mongodb://u:xxxxx@db/x"`},
		{"file store without a directory", good, []string{"status", "-store", "file:"}, "needs a directory"},
		{"sqlite without a file", good, []string{"status", "-store", "sqlite:"}, "the SQLite store needs a file"},
		{"weak seal key", append(good, "UCOAUTH_SEAL_KEYS=k1:AAAA"), []string{"status"}, "UCOAUTH_SEAL_KEYS"},
		{"fake with a bad lifetime", good, []string{"fake", "-lifetime", "0s"}, "-lifetime must be at least 1s"},
		{"fake with arguments", good, []string{"fake", "extra"}, "fake takes no arguments"},
		{"status flag after a key", good, []string{"status", "K", "-json"}, `flag "-json" after the arguments: flags go first`},
		{"token flag after the key", good, []string{"token", "K", "--min-validity=1m"}, `flag "--min-validity=1m" after the arguments`},
		{"login flag after an argument", good, []string{"login", "K", "-key", "K"}, `flag "-key" after the arguments`},
		{"help after the key", good, []string{"refresh", "K", "-h"}, `flag "-h" after the arguments`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runCmd(t, c.env, c.args...)
			assert.Equal(t, 2, r.code, "stderr: %s", r.stderr)
			assert.Contains(t, r.stderr, c.says)
			assert.Empty(t, r.stdout)
			assert.NotContains(t, r.stderr, "hunter2", "store passwords are not echoed")
			if len(c.args) > 0 {
				assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
			}
		})
	}
}

// TestKeyThatLooksLikeAFlagAfterDashDash: "--" ends the flags, so a key
// spelled like one of them can still be named.
func TestKeyThatLooksLikeAFlagAfterDashDash(t *testing.T) {
	r := runCmd(t, baseEnv("UCOAUTH_STORE=file:"+t.TempDir()), "status", "--", "-json")
	assert.Equal(t, 1, r.code, "stderr: %s", r.stderr)
	assert.Regexp(t, `(?m)^-json +missing`, r.stdout)
}

func TestHelpDocumentsEveryCommandAndFlag(t *testing.T) {
	env := baseEnv("ULTRACART_CLIENT_SECRET=" + clientSecret)
	common := []string{"-store", "-base-url", "-client-id", "-client-secret"}
	flags := map[string][]string{
		"fake":    {"-addr", "-client-id", "-client-secret", "-lifetime", "-latency", "-rotate"},
		"login":   append([]string{"-key", "-no-browser", "-device", "-listen", "-scope", "-timeout"}, common...),
		"token":   append([]string{"-min-validity", "-timeout"}, common...),
		"status":  {"-store", "-json", "-timeout"},
		"refresh": append([]string{"-timeout"}, common...),
		"revoke":  append([]string{"-timeout"}, common...),
	}
	for _, h := range []string{"-h", "--help", "help"} {
		r := runCmd(t, env, h)
		require.Equal(t, 0, r.code)
		for cmd := range flags {
			assert.Regexp(t, `(?m)^  `+cmd+` `, r.stdout, "the top-level usage lists %s", cmd)
		}
		for _, s := range []string{"UCOAUTH_STORE", "ULTRACART_BASE_URL", "ULTRACART_CLIENT_ID", "ULTRACART_CLIENT_SECRET", "Exit status"} {
			assert.Contains(t, r.stdout, s)
		}
	}
	for cmd, fl := range flags {
		for _, args := range [][]string{{cmd, "-h"}, {"help", cmd}} {
			r := runCmd(t, env, args...)
			require.Equal(t, 0, r.code, "%v: %s", args, r.stderr)
			assert.Contains(t, r.stdout, "Usage: ucoauth "+cmd)
			for _, f := range fl {
				assert.Regexp(t, `\n  `+f+`[ \n]`, r.stdout, "%s -h documents %s", cmd, f)
			}
			assert.Empty(t, r.stderr)
		}
	}
}

func TestRedisStore(t *testing.T) {
	rs := redistest.Start(t)
	f := startFake(t)
	dir := t.TempDir()
	tok := connect(t, f, dir, "M1") // connected into a file store, copied to Redis
	ctx := context.Background()
	require.NoError(t, redisstore.New(rs.Client(), redisstore.WithKeyPrefix("app:")).Save(ctx, "M1", tok))

	env := f.env(dir, "UCOAUTH_STORE=redis://"+rs.Addr+"/0?prefix=app:")
	r := runCmd(t, env, "token", "M1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, tok.AccessToken+"\n", r.stdout)

	r = runCmd(t, env, "refresh", "M1")
	require.Equal(t, 0, r.code, r.stderr)
	got, err := redisstore.New(rs.Client(), redisstore.WithKeyPrefix("app:")).Load(ctx, "M1")
	require.NoError(t, err)
	assert.NotEqual(t, tok.AccessToken, got.AccessToken, "refreshed into Redis under the prefix")

	r = runCmd(t, env, "status", "M1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `M1\s+fresh`, r.stdout)
	noSecrets(t, r.stdout, got.AccessToken, got.RefreshToken)

	r = runCmd(t, f.env(dir, "UCOAUTH_STORE=redis://"+rs.Addr+"/0?bogus=1"), "status", "M1")
	assert.Equal(t, 2, r.code, r.stderr)
	assert.Contains(t, r.stderr, "bad Redis URL")
}

// TestSealedSQLiteStore: the command runs over a SQLite file sealed with
// UCOAUTH_SEAL_KEYS, and no token is in the file in clear.
func TestSealedSQLiteStore(t *testing.T) {
	f := startFake(t)
	dir := t.TempDir()
	tok := connect(t, f, dir, "M1") // connected into a file store, copied below
	db := filepath.Join(t.TempDir(), "tokens.db")
	keys := "k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7, 8}, 16)) // Seal refuses one repeated byte
	env := f.env(dir, "UCOAUTH_STORE=sqlite:"+db+"?table=merchant_tokens", "UCOAUTH_SEAL_KEYS="+keys)

	// Seed the sealed store the way an application would.
	parsed, err := tokenstore.ParseSealKeys(keys)
	require.NoError(t, err)
	sqlDB, err := sql.Open("sqlite", "file:"+db)
	require.NoError(t, err)
	inner, err := sqlstore.New(t.Context(), sqlDB, sqlstore.SQLite, sqlstore.WithTable("merchant_tokens"))
	require.NoError(t, err)
	sealed, err := tokenstore.Seal(inner, parsed[0])
	require.NoError(t, err)
	require.NoError(t, sealed.Save(t.Context(), "M1", tok))
	require.NoError(t, sqlDB.Close())

	r := runCmd(t, env, "token", "M1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, tok.AccessToken+"\n", r.stdout)

	r = runCmd(t, env, "refresh", "M1")
	require.Equal(t, 0, r.code, r.stderr)
	r = runCmd(t, env, "status")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `M1\s+fresh`, r.stdout, "status lists the SQL store's keys")

	raw, err := os.ReadFile(db)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), tok.AccessToken, "sealed at rest")
	assert.NotContains(t, string(raw), tok.RefreshToken, "sealed at rest")

	r = runCmd(t, f.env(dir, "UCOAUTH_STORE=sqlite:"+db+"?table=merchant_tokens"), "token", "M1")
	assert.NotEqual(t, 0, r.code, "without the keys, the sealed record does not open")
	noSecrets(t, r.stderr, tok.AccessToken, tok.RefreshToken)
}

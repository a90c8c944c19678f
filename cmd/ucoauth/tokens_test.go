package main_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/tokenfile"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// connect connects merchant key at the fake without the command (authorize,
// exchange, save in the file store in dir) and returns the token.
func connect(t *testing.T, f *fake, dir, key string) *oauth2.Token {
	t.Helper()
	ctx := context.Background()
	cfg := ucoauth.NewConfig(clientID, clientSecret, "http://127.0.0.1:9/callback", ucoauth.ScopeOrderRead)
	cfg.Endpoint = ucoauth.EndpointAt(f.base())
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(cfg.AuthCodeURL("st") + "&merchant_id=" + url.QueryEscape(key))
	require.NoError(t, err)
	resp.Body.Close()
	loc, err := resp.Location()
	require.NoError(t, err)
	tok, err := ucoauth.Exchange(ctx, cfg, loc.Query().Get("code"))
	require.NoError(t, err)
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	require.NoError(t, store.Save(ctx, key, tok))
	return tok
}

// overwrite replaces key's stored token with tok, whatever their expiries.
func overwrite(t *testing.T, dir, key string, tok *oauth2.Token) {
	t.Helper()
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	require.NoError(t, store.Delete(context.Background(), key))
	require.NoError(t, store.Save(context.Background(), key, tok))
}

func tokenRequests(f *fake) int {
	return strings.Count(f.stderr.String(), `POST "/rest/v2/oauth/token"`)
}

func TestTokenPrintsOnlyTheToken(t *testing.T) {
	f := startFake(t)
	dir := t.TempDir()
	tok := connect(t, f, dir, "M1")
	before := tokenRequests(f)

	r := runCmd(t, f.env(dir), "token", "M1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, tok.AccessToken+"\n", r.stdout, "only the token, newline-terminated")
	assert.Empty(t, r.stderr)
	assert.Equal(t, before, tokenRequests(f), "a fresh token is printed without a refresh")

	// curl -H "Authorization: Bearer $(ucoauth token M1)"
	status, body := apiGet(t, f, strings.TrimSpace(r.stdout))
	assert.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"merchant_id":"M1"`)
}

func TestTokenRefreshesAnExpiringTokenFlagsWinOverEnvironment(t *testing.T) {
	f := startFake(t)
	dir := t.TempDir()
	old := connect(t, f, dir, "M1")
	soon := *old
	soon.Expiry = time.Now().Add(30 * time.Second) // less than -min-validity's 1m
	overwrite(t, dir, "M1", &soon)

	// The environment points at nothing; the flags win.
	env := baseEnv("UCOAUTH_STORE=file:"+t.TempDir(), "ULTRACART_BASE_URL=http://127.0.0.1:9/rest/v2",
		"ULTRACART_CLIENT_ID=wrong-client", "ULTRACART_CLIENT_SECRET=wrong-secret")
	r := runCmd(t, env, "token", "-store", "file:"+dir, "-base-url", f.base(),
		"-client-id", clientID, "-client-secret", clientSecret, "M1")
	require.Equal(t, 0, r.code, r.stderr)
	printed := strings.TrimSpace(r.stdout)
	assert.NotEqual(t, old.AccessToken, printed, "refreshed before printing")

	stored, err := loadToken(t, dir, "M1")
	require.NoError(t, err)
	assert.Equal(t, printed, stored.AccessToken, "saved before it was printed")
	assert.NotEqual(t, old.RefreshToken, stored.RefreshToken, "the rotated refresh token is stored")
	assert.Greater(t, time.Until(stored.Expiry), 50*time.Minute)
	status, body := apiGet(t, f, printed)
	assert.Equal(t, http.StatusOK, status, body)
}

func TestTokenWithoutExpiryIsRefreshedBeforePrinting(t *testing.T) {
	f := startFake(t)
	dir := t.TempDir()
	old := connect(t, f, dir, "M1")
	handMade := *old
	handMade.Expiry, handMade.ExpiresIn = time.Time{}, 0 // saved by hand, say
	overwrite(t, dir, "M1", &handMade)

	r := runCmd(t, f.env(dir), "token", "M1")
	require.Equal(t, 0, r.code, r.stderr)
	printed := strings.TrimSpace(r.stdout)
	assert.NotEqual(t, old.AccessToken, printed, "refreshed in the foreground, not in a background the exit would cut off")
	stored, err := loadToken(t, dir, "M1")
	require.NoError(t, err)
	assert.Equal(t, printed, stored.AccessToken)
	assert.NotEqual(t, old.RefreshToken, stored.RefreshToken, "the rotated refresh token is saved")
}

func TestRefreshForcesARefresh(t *testing.T) {
	f := startFake(t)
	dir := t.TempDir()
	old := connect(t, f, dir, "M1")

	r := runCmd(t, f.env(dir), "refresh", "M1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "Refreshed M1: access ")
	first, err := loadToken(t, dir, "M1")
	require.NoError(t, err)
	assert.NotEqual(t, old.AccessToken, first.AccessToken, "a fresh token was refreshed all the same")
	assert.NotEqual(t, old.RefreshToken, first.RefreshToken)
	assert.Contains(t, r.stderr, ucoauth.Fingerprint(first.AccessToken), "described by fingerprint")
	noSecrets(t, r.stdout+r.stderr, first.AccessToken, first.RefreshToken, old.RefreshToken)

	// Again: the rotated refresh token from the store is the one used.
	r = runCmd(t, f.env(dir), "refresh", "M1")
	require.Equal(t, 0, r.code, r.stderr)
	second, err := loadToken(t, dir, "M1")
	require.NoError(t, err)
	assert.NotEqual(t, first.AccessToken, second.AccessToken)
	status, body := apiGet(t, f, second.AccessToken)
	assert.Equal(t, http.StatusOK, status, body)

	// A dead grant (the old, rotated-away refresh token) says: connect again.
	dead := *old
	dead.Expiry = time.Now().Add(2 * time.Hour)
	overwrite(t, dir, "M1", &dead)
	r = runCmd(t, f.env(dir), "refresh", "M1")
	assert.Equal(t, 3, r.code, r.stderr)
	assert.Contains(t, r.stderr, "invalid_grant")
	assert.Contains(t, r.stderr, `connect "M1" again with: ucoauth login -key "M1"`)
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)

	r = runCmd(t, f.env(dir), "refresh", "NOBODY")
	assert.Equal(t, 3, r.code, "no token: connect first")
	assert.Equal(t, "ucoauth refresh: no token for \"NOBODY\": connect it with: ucoauth login -key \"NOBODY\"\n", r.stderr)
}

func TestRevokeThenTokenFails(t *testing.T) {
	f := startFake(t)
	dir := t.TempDir()
	tok := connect(t, f, dir, "M1")

	r := runCmd(t, f.env(dir), "revoke", "M1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "Revoked M1")
	_, err := loadToken(t, dir, "M1")
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound, "deleted from the store")
	status, _ := apiGet(t, f, tok.AccessToken)
	assert.Equal(t, http.StatusUnauthorized, status, "revoked at UltraCart")

	r = runCmd(t, f.env(dir), "token", "M1")
	assert.Equal(t, 3, r.code)
	assert.Empty(t, r.stdout, "no token on stdout")
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
	assert.True(t, strings.HasPrefix(r.stderr, "ucoauth token: "), r.stderr)

	r = runCmd(t, f.env(dir), "revoke", "M1")
	assert.Equal(t, 3, r.code, "a revoked key: nothing revoked, and the exit status says so: %s", r.stderr)
	assert.Equal(t, "ucoauth revoke: \"M1\" was revoked already: nothing to revoke (connect it again with: ucoauth login -key \"M1\")\n", r.stderr)
	r = runCmd(t, f.env(dir), "revoke", "M1-TYPO")
	assert.Equal(t, 3, r.code, "a mistyped key does not pass for revoked: %s", r.stderr)
	assert.Contains(t, r.stderr, "nothing revoked")

	// The key's lock file went with it; the directory's .write.lock, shared
	// by every key, stays (empty, 0600). So does M1's tombstone, which
	// holds no secret and keeps a process holding the grant from saving
	// it back (docs/tombstones.md).
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	_, err = tokenstore.NewFile(dir)
	require.NoError(t, err)
	require.Len(t, names, 2, "the write lock and M1's tombstone: %v", names)
	assert.Equal(t, ".write.lock", names[0])
	assert.Equal(t, filepath.Base(tokenfile.Token(dir, "M1")), names[1], "M1's tombstone, no lock file")
	b, err := os.ReadFile(tokenfile.Token(dir, "M1"))
	require.NoError(t, err)
	noSecrets(t, string(b), tok.AccessToken, tok.RefreshToken)
	fi, err := os.Stat(filepath.Join(dir, ".write.lock"))
	require.NoError(t, err)
	assert.Zero(t, fi.Size())
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	r = runCmd(t, f.env(dir), "revoke", "-h")
	assert.Contains(t, r.stdout, "the key's lock file is removed too, once nobody holds\nit")
}

func TestInterruptDuringRefreshStillSaves(t *testing.T) {
	interruptDuringRefresh(t, "refresh", "M1")
}

// TestInterruptDuringTokenStillSaves: `token` on an expired token, given
// SIGINT while it refreshes, saves the new token and prints it.
func TestInterruptDuringTokenStillSaves(t *testing.T) {
	stdout := interruptDuringRefresh(t, "token", "M1")
	assert.Regexp(t, `^at-[0-9a-f]+\n$`, stdout, "only the token")
}

// interruptDuringRefresh runs the command args, which must refresh M1,
// sends SIGINT while the refresh is under way, checks it still saved the
// rotated token, and returns its stdout.
func interruptDuringRefresh(t *testing.T, args ...string) string {
	f := startFake(t, "-latency", "2s")
	dir := t.TempDir()
	old := connect(t, f, dir, "M1")
	soon := *old
	soon.Expiry = time.Now().Add(30 * time.Second) // inside -min-validity: token refreshes
	overwrite(t, dir, "M1", &soon)

	cmd := exec.Command(bin, args...)
	cmd.Env = f.env(dir)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	// The refresh holds the store's lock while UltraCart takes its time:
	// once the lock is seen held, the refresh is under way.
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		unlock, err := store.Lock(ctx, "M1")
		if err != nil {
			return true
		}
		unlock()
		return false
	}, hang, 5*time.Millisecond, "the refresh never took the lock")
	require.NoError(t, cmd.Process.Signal(os.Interrupt))

	assert.Equal(t, 0, exitCode(t, cmd), "the refresh finishes: %s", stderr.String())
	assert.Contains(t, stderr.String(), "finishing first")
	stored, err := loadToken(t, dir, "M1")
	require.NoError(t, err)
	assert.NotEqual(t, old.RefreshToken, stored.RefreshToken, "the rotated refresh token reached the store")
	status, body := apiGet(t, f, stored.AccessToken)
	assert.Equal(t, http.StatusOK, status, body)
	if args[0] == "token" {
		assert.Equal(t, stored.AccessToken+"\n", stdout.String(), "the saved token is the one printed")
	}
	return stdout.String()
}

// TestTokenWithDeadGrant: `token` on an expired token whose refresh token
// UltraCart no longer knows prints nothing on stdout, says on one stderr
// line to connect again, and exits 3.
func TestTokenWithDeadGrant(t *testing.T) {
	f := startFake(t)
	dir := t.TempDir()
	old := connect(t, f, dir, "M1")
	r := runCmd(t, f.env(dir), "refresh", "M1") // rotates old.RefreshToken away
	require.Equal(t, 0, r.code, r.stderr)
	dead := *old
	dead.Expiry = time.Now().Add(-time.Minute)
	overwrite(t, dir, "M1", &dead)

	r = runCmd(t, f.env(dir), "token", "M1")
	assert.Equal(t, 3, r.code, r.stderr)
	assert.Empty(t, r.stdout, "nothing on stdout: $(ucoauth token K) must not hand curl a dead token")
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
	assert.Contains(t, r.stderr, `connect "M1" again with: ucoauth login -key "M1"`)
	noSecrets(t, r.stderr, old.AccessToken, old.RefreshToken)
}

package main_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInstallFromAClone runs the README's install line from the clone on
// hand: `go install .` in cmd/ucoauth (a module of its own), into a GOBIN
// of its own, gives a command that runs.
func TestInstallFromAClone(t *testing.T) {
	readme := root(t, "README.md")
	require.Contains(t, readme, "cd go-ucoauth/cmd/ucoauth && go install .")
	gobin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	install := exec.CommandContext(ctx, "go", "install", ".")
	install.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=-mod=readonly")
	out, err := install.CombinedOutput()
	require.NoError(t, err, "%s", out)
	help := exec.CommandContext(ctx, filepath.Join(gobin, "ucoauth"), "-h")
	help.Env = baseEnv()
	out, err = help.Output()
	require.NoError(t, err)
	assert.Contains(t, string(out), "ucoauth manages UltraCart OAuth tokens")
}

// readmeBlock returns the README's sh block that holds marker.
func readmeBlock(t *testing.T, marker string) string {
	t.Helper()
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(root(t, "README.md"), -1) {
		if strings.Contains(m[1], marker) {
			return m[1]
		}
	}
	t.Fatalf("no sh block with %q in the README", marker)
	return ""
}

// runScript runs script with bash in dir, the test's ucoauth first in PATH.
func runScript(t *testing.T, dir, script string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// TestREADMEFakeRecipeRunsAsWritten runs the README's "let the command keep
// the tokens" block against a fake, as written but for the fake's address
// and application. Without the login line, it stops at `ucoauth token`:
// curl never sends an empty bearer (it did: `$(ucoauth token DEMO)` inside
// curl's arguments hides the failure).
func TestREADMEFakeRecipeRunsAsWritten(t *testing.T) {
	require.Equal(t, "ucoauth", filepath.Base(bin), "the recipe calls the command by name")
	block := readmeBlock(t, "tok=$(ucoauth token DEMO) && curl")
	f := startFake(t)
	script := strings.NewReplacer("http://127.0.0.1:8080", f.url,
		"ucoauthtest-client", clientID, "ucoauthtest-secret", clientSecret).Replace(block)

	r := runScript(t, t.TempDir(), script)
	require.Equal(t, 0, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, `"merchant_id":"DEMO"`, "curl reached the API with the token")
	assert.Contains(t, r.stderr, "Saved the token for DEMO")
	assert.Contains(t, r.stderr, "Revoked DEMO")
	noSecrets(t, r.stdout+r.stderr, clientSecret)

	// No login: `ucoauth token` fails, and curl is not run (the lines after
	// it run, and fail too: there is no token to revoke).
	before := strings.Count(f.stderr.String(), `"/rest/v2/order/orders"`)
	noLogin := regexp.MustCompile(`(?m)^ucoauth login .*$`).ReplaceAllString(script, "")
	r = runScript(t, t.TempDir(), noLogin)
	assert.NotEqual(t, 0, r.code, "stderr:\n%s", r.stderr)
	assert.Contains(t, r.stderr, `ucoauth token: no token for "DEMO"`)
	assert.NotContains(t, r.stdout, "merchant_id")

	// The token help's script form: set -euo pipefail, two lines.
	r = runScript(t, t.TempDir(), "set -euo pipefail\n"+strings.Replace(noLogin, ") && curl", ")\ncurl", 1))
	assert.Equal(t, 3, r.code, "the token's exit status ends the script; stderr:\n%s", r.stderr)
	assert.NotContains(t, r.stderr, "ucoauth revoke", "nothing after the failed line ran")
	f.stop(t)
	assert.Equal(t, before, strings.Count(f.stderr.String(), `"/rest/v2/order/orders"`), "curl never called the API")
}

// TestTokenMinValidityLongerThanLifetimeFails: `token -min-validity 2h` for
// a token UltraCart grants for 1 h exited 0 and printed a token that could
// not last 2 h. No token can: it fails, says why, and prints nothing.
func TestTokenMinValidityLongerThanLifetimeFails(t *testing.T) {
	f := startFake(t)
	dir := t.TempDir()
	connect(t, f, dir, "M1")
	r := runCmd(t, f.env(dir), "token", "-min-validity", "2h", "M1")
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	assert.Equal(t, `ucoauth token: -min-validity 2h0m0s is longer than the 1h0m0s UltraCart grants the tokens of "M1"`,
		strings.SplitN(r.stderr, " (this one has", 2)[0])
	assert.Contains(t, r.stderr, "ask for 1h0m0s at most")
}

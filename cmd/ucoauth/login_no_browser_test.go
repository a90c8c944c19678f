package main_test

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoginNoBrowserSaysWhatToDo: `ucoauth login -key DEMO -no-browser`
// against the fake used to wait its 5 minutes in silence, then fail. It now
// says at once what to do, and the line it prints for a fake, run as
// printed in a shell, completes the login.
func TestLoginNoBrowserSaysWhatToDo(t *testing.T) {
	f := startFake(t)
	dir := t.TempDir()
	cmd, link, stderr := startLogin(t, f.env(dir), "-key", "DEMO", "-no-browser")

	curlLine := regexp.MustCompile(`(?m)^  (curl -sSL -o /dev/null '[^']+')$`)
	require.Eventually(t, func() bool { return curlLine.MatchString(stderr.String()) }, hang, 10*time.Millisecond,
		"the command says at once what to do; stderr:\n%s", stderr)
	out := stderr.String()
	assert.Contains(t, out, "Open the link in a browser on this machine")
	assert.Contains(t, out, "or log in with -device instead")
	line := curlLine.FindStringSubmatch(out)[1]
	assert.Equal(t, "curl -sSL -o /dev/null '"+link+"'", line)

	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	sh := exec.CommandContext(ctx, "bash", "-c", line)
	b, err := sh.CombinedOutput()
	require.NoError(t, err, "%s", b)

	require.Equal(t, 0, loginExit(t, cmd, stderr), "stderr:\n%s", stderr)
	assert.Contains(t, stderr.String(), "Saved the token for DEMO")
	tok, err := loadToken(t, dir, "DEMO")
	require.NoError(t, err)
	status, body := apiGet(t, f, tok.AccessToken)
	assert.Equal(t, 200, status, body)
	noSecrets(t, stderr.String(), tok.AccessToken, tok.RefreshToken)
	assert.False(t, strings.Contains(stderr.String(), "no answer from UltraCart's redirect"))
}

package main_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/bench"
)

func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ucoauth-bench")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

func run(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runEnv(t, bin, nil, args...)
}

func runEnv(t *testing.T, bin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // bounds a hang only
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	}
	require.NoError(t, err)
	return o.String(), e.String(), 0
}

func TestHelpShowsOnlyItsOwnFlagsAndScenarios(t *testing.T) {
	bin := build(t)
	stdout, stderr, code := run(t, bin, "-h")
	assert.Equal(t, 0, code)
	help := stdout + stderr
	assert.NotContains(t, help, "test.", "testing's flags are not the program's")
	for _, f := range []string{"-scenario", "-callers", "-merchants", "-file-keys", "-redis-keys", "-instances", "-windows", "-seconds"} {
		assert.Contains(t, help, "\n  "+f+" ")
	}
	for _, s := range bench.Scenarios {
		assert.Contains(t, help, s)
	}
	_, stderr, code = run(t, bin, "-test.v")
	assert.Equal(t, 2, code, "testing's flags are refused: %s", stderr)
}

func TestRunsOneScenario(t *testing.T) {
	bin := build(t)
	stdout, stderr, code := run(t, bin, "-scenario", "stampede", "-callers", "20")
	require.Equal(t, 0, code, stderr)
	rows := strings.Count(stdout, "\n| ") - 1 // less the header
	assert.Equal(t, 1, rows, "one scenario, one row:\n%s", stdout)
	assert.Contains(t, stdout, "| 3. stampede: 20 goroutines")

	_, stderr, code = run(t, bin, "-scenario", "nope")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `no scenario "nope"`)
}

// TestFleetOnMiniredisWarnsOfNothing: on a machine without redis-server the
// benchmark runs on miniredis, which has no replicas and no INFO
// replication; its stores must not print a warning per fleet instance.
func TestFleetOnMiniredisWarnsOfNothing(t *testing.T) {
	bin := build(t)
	stdout, stderr, code := runEnv(t, bin, []string{"UCOAUTH_FORCE_MINIREDIS=1"}, "-scenario", "fleet", "-instances", "2", "-windows", "1")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "miniredis")
	assert.Contains(t, stdout, "| 4. fleet: 2 instances")
	assert.NotContains(t, stderr, "WARN")
	assert.NotContains(t, stderr, "INFO replication")
}

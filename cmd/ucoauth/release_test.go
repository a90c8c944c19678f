package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// root is the repository root, two levels above this package.
func root(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	require.NoError(t, err, "%s is at the repository root", name)
	return string(b)
}

// TestReleaseHygiene: the files a new user looks for before adopting the
// module are there and say what they must.
func TestReleaseHygiene(t *testing.T) {
	license := root(t, "LICENSE")
	assert.True(t, strings.HasPrefix(license, "MIT License\n"), "MIT")
	assert.Contains(t, strings.Join(strings.Fields(license), " "),
		`THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND`, "the whole MIT text")

	changelog := root(t, "CHANGELOG.md")
	assert.Contains(t, changelog, "[Keep a Changelog](https://keepachangelog.com/")
	assert.Regexp(t, regexp.MustCompile(`(?m)^## \[0\.1\.0\] - \d{4}-\d{2}-\d{2}$`), changelog, "a v0.1.0 entry, not only [Unreleased]")
	assert.Regexp(t, regexp.MustCompile(`(?m)^\[0\.1\.0\]: https://`), changelog, "with its link")

	security := root(t, "SECURITY.md")
	for _, s := range []string{"## Reporting a vulnerability", "## In scope", "## Out of scope"} {
		assert.Contains(t, security, s)
	}

	readme := root(t, "README.md")
	assert.Contains(t, readme, "git clone https://github.com/ucoauth/go-ucoauth && cd go-ucoauth/cmd/ucoauth && go install .")
	assert.NotContains(t, readme, "go install github.com/ucoauth/go-ucoauth/cmd/ucoauth@latest", "the module is not published: @latest fails")
	assert.Contains(t, readme, "go run ./examples/quickstart   # a merchant's whole life cycle, against an embedded fake UltraCart\n./scripts/test                 # the test suite: every module, go test -race\n",
		"the two set-up commands, unchanged")
	assert.Contains(t, readme, "\n## Develop against the fake\n")
}

// TestCommandNeedsNoTestDependency: `go install .` in cmd/ucoauth builds
// the command with only what it imports; nothing a test alone needs may be
// among it (the repository's internal packages for tests: the server
// starters, the fleet helper, the benchmarks, the interop servers).
func TestCommandNeedsNoTestDependency(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	require.NoError(t, err, string(out))
	// The library's own internal packages (file naming, record format,
	// redaction) come with it; any other internal package is a test helper.
	lib, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}",
		"github.com/ucoauth/go-ucoauth/ucoauth", "github.com/ucoauth/go-ucoauth/tokenstore").CombinedOutput()
	require.NoError(t, err, string(lib))
	libDeps := map[string]bool{}
	for _, p := range strings.Fields(string(lib)) {
		libDeps[p] = true
	}
	for _, p := range strings.Fields(string(out)) {
		for _, bad := range []string{"testing", "github.com/stretchr/", "go.uber.org/goleak", "github.com/alicebob/miniredis",
			"github.com/ory/", "github.com/ucoauth/go-ucoauth/internal/testservers/", "github.com/ucoauth/go-ucoauth/internal/fleet",
			"github.com/ucoauth/go-ucoauth/internal/bench", "github.com/ucoauth/go-ucoauth/internal/interop/"} {
			assert.False(t, p == bad || (strings.HasSuffix(bad, "/") && strings.HasPrefix(p, bad)),
				"the command imports %s", p)
		}
	}
	out, err = exec.Command("go", "build", "-mod=readonly", "-o", os.DevNull, ".").CombinedOutput()
	assert.NoError(t, err, "every dependency is in go.mod and go.sum: %s", out)
}

package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bin is the ucoauth binary, built once for every test.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ucoauth-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "ucoauth")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building ucoauth:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// hang bounds every child process: only a hang ever reaches it.
const hang = 2 * time.Minute

// The application registered at every fake the tests start.
const (
	clientID     = "test-client"
	clientSecret = "s3cret-of-the-test-app"
)

// baseEnv is a clean environment: nothing of the test process's own
// UCOAUTH_* or ULTRACART_* settings leaks into a child.
func baseEnv(extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, extra...)
}

// result is a finished child.
type result struct {
	stdout, stderr string
	code           int
}

// noSecrets fails the test when out holds s in any encoding.
func noSecrets(t *testing.T, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		js, _ := json.Marshal(s)
		for _, enc := range []string{
			s, url.QueryEscape(s), url.PathEscape(s), string(js[1 : len(js)-1]),
			base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s)),
			fmt.Sprintf("%x", s),
		} {
			assert.NotContains(t, out, enc, "a secret leaked")
		}
	}
}

// runCmd runs the binary to completion with env and args. Its output never
// holds the client secret.
func runCmd(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: code}
	noSecrets(t, r.stdout+r.stderr, clientSecret)
	return r
}

// fake is a running `ucoauth fake`.
type fake struct {
	url     string
	cmd     *exec.Cmd
	stderr  *syncBuffer
	stopped bool
}

func (f *fake) base() string { return f.url + "/rest/v2" }

// env is the environment of a command talking to this fake with a file
// store in dir.
func (f *fake) env(dir string, extra ...string) []string {
	return baseEnv(append([]string{
		"UCOAUTH_STORE=file:" + dir, "ULTRACART_BASE_URL=" + f.base(),
		"ULTRACART_CLIENT_ID=" + clientID, "ULTRACART_CLIENT_SECRET=" + clientSecret,
	}, extra...)...)
}

// stop sends SIGTERM and waits for a clean exit.
func (f *fake) stop(t *testing.T) {
	t.Helper()
	if f.stopped {
		return
	}
	f.stopped = true
	require.NoError(t, f.cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- f.cmd.Wait() }()
	select {
	case err := <-done:
		assert.NoError(t, err, "the fake exits 0 on SIGTERM; stderr:\n%s", f.stderr)
	case <-time.After(hang):
		_ = f.cmd.Process.Kill()
		t.Fatal("the fake did not stop on SIGTERM")
	}
	noSecrets(t, f.stderr.String(), clientSecret)
}

// startFake starts `ucoauth fake` on a free port and waits until GET / works.
func startFake(t *testing.T, args ...string) *fake {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"fake", "-addr", "127.0.0.1:0", "-client-id", clientID}, args...)...)
	cmd.Env = baseEnv("ULTRACART_CLIENT_SECRET=" + clientSecret)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	f := &fake{cmd: cmd, stderr: &syncBuffer{}}
	cmd.Stderr = f.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { f.stop(t) })
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case f.url = <-line:
	case <-time.After(hang):
		t.Fatalf("the fake printed no URL; stderr:\n%s", f.stderr)
	}
	require.True(t, strings.HasPrefix(f.url, "http://127.0.0.1:"), "first stdout line is the root URL, got %q", f.url)
	resp, err := http.Get(f.url + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return f
}

// syncBuffer is a bytes.Buffer safe for a child's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	// drained, when set, is closed once the writer has seen EOF.
	drained chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// apiGet calls the fake's API with a bearer token, as curl would.
func apiGet(t *testing.T, f *fake, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.base()+"/order/orders", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-UltraCart-Api-Version", "2017-03-01")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestFakeServesAndStopsCleanly(t *testing.T) {
	f := startFake(t, "-lifetime", "90s")

	resp, err := http.Get(f.url + "/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), f.base())

	// The whole OAuth surface answers with UltraCart's shapes.
	form := url.Values{"client_id": {clientID}, "client_secret": {clientSecret}, "grant_type": {"authorization_code"}, "code": {"code-nobody-issued"}}
	resp, err = http.PostForm(f.base()+"/oauth/token?leak=query-secret", form)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "an unknown code is invalid_grant")
	resp, err = http.PostForm(f.base()+"/oauth/token", url.Values{"client_id": {clientID}, "client_secret": {"wrong"}, "grant_type": {"refresh_token"}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the secret given to the fake is checked")
	status, _ := apiGet(t, f, "not-a-token")
	assert.Equal(t, http.StatusUnauthorized, status)

	require.Eventually(t, func() bool { return strings.Contains(f.stderr.String(), `POST "/rest/v2/oauth/token" 400`) },
		hang, 20*time.Millisecond, "each request is logged with method, path and status")
	f.stop(t)
	logs := f.stderr.String()
	assert.Contains(t, logs, `GET "/" 200`)
	assert.Contains(t, logs, `GET "/rest/v2/order/orders" 401`)
	assert.Contains(t, logs, "token lifetime 1m30s")
	assert.Contains(t, logs, "stopped")
	assert.NotContains(t, logs, "query-secret", "query strings are never logged")
	assert.NotContains(t, logs, "code-nobody-issued", "bodies are never logged")
}

// TestFakeRefusesHugeRequests: a long-lived fake keeps nothing of a huge
// form or header: the form does not parse (400 invalid_request), the header
// is refused (431), and the fake serves on.
func TestFakeRefusesHugeRequests(t *testing.T) {
	f := startFake(t)
	form := url.Values{"client_id": {clientID}, "grant_type": {strings.Repeat("g", 1<<20)}}
	resp, err := http.PostForm(f.base()+"/oauth/token", form)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), `"invalid_request"`, "the form is refused before it is read: %.200s", body)

	req, err := http.NewRequest(http.MethodGet, f.url+"/", nil)
	require.NoError(t, err)
	req.Header.Set("X-Big", strings.Repeat("h", 200<<10))
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)

	resp, err = http.Get(f.url + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "still serving")
}

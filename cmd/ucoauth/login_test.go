package main_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"golang.org/x/oauth2"
)

// loadToken reads key from the file store in dir, as the library would.
func loadToken(t *testing.T, dir, key string) (*oauth2.Token, error) {
	t.Helper()
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	return store.Load(context.Background(), key)
}

// browse GETs u following redirects, like a browser, and returns the final
// status and page.
func browse(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// startLogin starts `ucoauth login` and returns the authorize link it prints.
func startLogin(t *testing.T, env []string, args ...string) (cmd *exec.Cmd, link string, stderr *syncBuffer) {
	t.Helper()
	cmd = exec.Command(bin, append([]string{"login"}, args...)...)
	cmd.Env = env
	// An os.Pipe, not StderrPipe: Wait closes a StderrPipe as soon as the
	// command exits, which can cut off its last lines before they are read.
	// This one is read to EOF, which comes when the command exits.
	pipe, w, err := os.Pipe()
	require.NoError(t, err)
	cmd.Stderr = w
	stderr = &syncBuffer{drained: make(chan struct{})}
	err = cmd.Start()
	w.Close()
	if err != nil {
		pipe.Close()
		require.NoError(t, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	links := make(chan string, 1)
	go func() {
		defer close(stderr.drained)
		defer pipe.Close()
		s := bufio.NewScanner(pipe)
		sent := false
		for s.Scan() {
			_, _ = stderr.Write([]byte(s.Text() + "\n"))
			if l := strings.TrimSpace(s.Text()); !sent && strings.HasPrefix(l, "http") {
				links <- l
				sent = true
			}
		}
	}()
	select {
	case link = <-links:
	case <-time.After(hang):
		t.Fatalf("login printed no link; stderr:\n%s", stderr)
	}
	return cmd, link, stderr
}

// loginExit waits for a command started by startLogin and returns its exit
// status, once everything it wrote to stderr has been read.
func loginExit(t *testing.T, cmd *exec.Cmd, stderr *syncBuffer) int {
	t.Helper()
	code := exitCode(t, cmd)
	select {
	case <-stderr.drained:
	case <-time.After(hang):
		t.Fatal("the command's stderr was not closed")
	}
	return code
}

// exitCode waits for cmd and returns its exit status.
func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		require.NoError(t, err)
		return 0
	case <-time.After(hang):
		t.Fatal("the command did not exit")
		return -1
	}
}

func TestLoginThroughLoopbackRedirect(t *testing.T) {
	f := startFake(t)
	dir := t.TempDir()
	cmd, link, stderr := startLogin(t, f.env(dir), "-key", "M1", "-no-browser", "-scope", "order_read,item_read")

	auth, err := url.Parse(link)
	require.NoError(t, err)
	assert.Equal(t, f.base()+"/oauth/authorize", auth.Scheme+"://"+auth.Host+auth.Path)
	q := auth.Query()
	assert.Equal(t, "order_read item_read", q.Get("scope"))
	assert.Len(t, q.Get("state"), 64, "32 random bytes of state")
	callback, err := url.Parse(q.Get("redirect_uri"))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", callback.Hostname(), "the redirect is loopback")
	assert.Equal(t, "/callback", callback.Path)

	// A forged answer is refused and does not end the login.
	status, body := browse(t, callback.String()+"?code=stolen&state=forged")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "state mismatch")
	status, _ = browse(t, callback.String()+"?code=stolen")
	assert.Equal(t, http.StatusBadRequest, status, "no state at all is a mismatch too")

	// The test plays the browser: the fake approves and redirects back.
	status, body = browse(t, link)
	assert.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, "Connected M1")
	require.Equal(t, 0, loginExit(t, cmd, stderr), "stderr:\n%s", stderr)
	assert.Contains(t, stderr.String(), "Saved the token for M1")

	tok, err := loadToken(t, dir, "M1")
	require.NoError(t, err)
	assert.NotEmpty(t, tok.RefreshToken)
	assert.Equal(t, "order_read item_read", tok.Extra("scope"))
	status, body = apiGet(t, f, tok.AccessToken)
	assert.Equal(t, http.StatusOK, status, body)
	noSecrets(t, stderr.String(), clientSecret, tok.AccessToken, tok.RefreshToken)
	f.stop(t)
	noSecrets(t, f.stderr.String(), clientSecret, tok.AccessToken, tok.RefreshToken, q.Get("state"))
	assert.Contains(t, f.stderr.String(), `GET "/rest/v2/oauth/authorize" 307`, "the fake logged the login's requests")
	assert.Contains(t, f.stderr.String(), `POST "/rest/v2/oauth/token" 200`)
}

func TestLoginRefusedByMerchant(t *testing.T) {
	f := startFake(t)
	dir := t.TempDir()
	cmd, link, stderr := startLogin(t, f.env(dir), "-key", "M2", "-no-browser")
	auth, err := url.Parse(link)
	require.NoError(t, err)
	status, _ := browse(t, auth.Query().Get("redirect_uri")+"?error=access_denied&state="+auth.Query().Get("state"))
	assert.Equal(t, http.StatusBadGateway, status)
	assert.Equal(t, 1, loginExit(t, cmd, stderr))
	assert.Contains(t, stderr.String(), "access_denied")
	_, err = loadToken(t, dir, "M2")
	assert.Error(t, err, "nothing saved")
}

func TestLoginTimesOut(t *testing.T) {
	f := startFake(t)
	r := runCmd(t, f.env(t.TempDir()), "login", "-key", "M3", "-no-browser", "-timeout", "1s")
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Contains(t, r.stderr, "no answer from UltraCart's redirect")
}

func TestLoginDeviceFlow(t *testing.T) {
	f := startFake(t)
	dir := t.TempDir()
	r := runCmd(t, f.env(dir), "login", "-key", "D1", "-device", "-scope", "order_read")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "enter the code ")
	assert.Contains(t, r.stderr, f.base()+"/oauth/device")
	assert.Contains(t, r.stderr, "Waiting for approval: ", "a countdown")
	assert.Contains(t, r.stderr, "Saved the token for D1")
	assert.Empty(t, r.stdout)

	tok, err := loadToken(t, dir, "D1")
	require.NoError(t, err)
	status, body := apiGet(t, f, tok.AccessToken)
	assert.Equal(t, http.StatusOK, status, body)
	noSecrets(t, r.stderr, tok.AccessToken, tok.RefreshToken)
}

// TestLoginListenerTakesOneAnswer: the loopback listener answers nothing but
// GET /callback with the state it printed, and ends the login on the first
// such answer: two answers at once exchange one code, the other is refused.
func TestLoginListenerTakesOneAnswer(t *testing.T) {
	f := startFake(t)
	dir := t.TempDir()
	cmd, link, stderr := startLogin(t, f.env(dir), "-key", "M4", "-no-browser")
	auth, err := url.Parse(link)
	require.NoError(t, err)
	callback, err := url.Parse(auth.Query().Get("redirect_uri"))
	require.NoError(t, err)
	state := auth.Query().Get("state")

	status, _ := browse(t, callback.Scheme+"://"+callback.Host+"/other?code=c&state="+state)
	assert.Equal(t, http.StatusNotFound, status, "another path")
	resp, err := http.PostForm(callback.String(), url.Values{"code": {"c"}, "state": {state}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "a POST")

	// Two answers with the right state and a code nobody issued.
	statuses := make(chan int, 2)
	for range 2 {
		go func() {
			resp, err := http.Get(callback.String() + "?code=never-issued&state=" + state)
			if err != nil {
				statuses <- 0 // the listener already closed
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	got := []int{<-statuses, <-statuses}
	for _, st := range got {
		assert.Contains(t, []int{http.StatusBadGateway, http.StatusGone, 0}, st, "%v", got)
	}
	assert.Contains(t, got, http.StatusBadGateway, "one answer is exchanged, and fails: %v", got)
	assert.NotEqual(t, got[0], got[1], "the other is refused (410) or finds the listener closed: %v", got)
	assert.Equal(t, 3, loginExit(t, cmd, stderr), "a code UltraCart refuses (invalid_grant): connect again; stderr:\n%s", stderr)
	assert.Contains(t, stderr.String(), "invalid_grant")
	_, err = loadToken(t, dir, "M4")
	assert.Error(t, err, "nothing saved")
}

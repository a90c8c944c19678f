package ucoauth_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ucoauth/go-ucoauth/internal/ultracart"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// Environment of the child processes of TestShorterLifetimeFleet and
// TestSealKeyRollingDeployFleet.
const (
	envSkewDir   = "UCOAUTH_SKEW_DIR"
	envSkewBase  = "UCOAUTH_SKEW_BASE"
	envSkewFor   = "UCOAUTH_SKEW_FOR"
	envSkewSeal  = "UCOAUTH_SKEW_SEAL_KEYS" // Seal the store with these keys
	envSkewEarly = "UCOAUTH_SKEW_EARLY"     // the early refresh window, 500 ms if unset
)

// TestShorterLifetimeFleet runs 4 OS processes over one file store, with
// rotation on, calling the API through ucoauth.NewClient. The API then
// refuses the token in use (UltraCart's clock is ahead) and grants shorter
// lifetimes: every process forces a refresh, and the first one's token
// expires before the one it replaced.
// No process may then send the refresh token that refresh rotated away.
func TestShorterLifetimeFleet(t *testing.T) {
	if dir := os.Getenv(envSkewDir); dir != "" {
		skewChild(t, dir)
		return
	}
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetRotation(true)
	srv.SetLifetime(time.Hour)
	dir := filepath.Join(t.TempDir(), "tokens")
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	require.NoError(t, store.Save(t.Context(), "DEMO", srv.Issue("DEMO")))

	const procs = 4
	f := startFileFleet(t, "TestShorterLifetimeFleet", dir, srv.BaseURL(), 4*time.Second, make([][]string, procs))
	failed := f.failed
	f.ready.Wait() // every process serves the one-hour token
	// UltraCart's clock jumps two hours (or the fleet's clocks were that far
	// behind all along): the API refuses the token in use, and from now on
	// tokens last 30 s.
	srv.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
	srv.SetLifetime(30 * time.Second)
	f.done.Wait()

	st := srv.Stats()
	t.Logf("refreshes %d, invalid_grant %d, API %d (refused %d), failed calls per process %v",
		st.Refreshes(), st.InvalidGrant, st.API, st.APIRejected, failed)
	require.Positive(t, st.Refreshes(), "precondition: the refusals forced refreshes")
	assert.Zero(t, st.InvalidGrant, "a process sent a refresh token that was rotated away")
	assert.Equal(t, 1, st.Refreshes(), "the other processes adopt the stored token")
	assert.Equal(t, make([]int, procs), failed, "failed API calls per process")
	tok, err := store.Load(t.Context(), "DEMO")
	require.NoError(t, err)
	assert.NotEmpty(t, tok.RefreshToken)
}

// fileFleet is child processes over one file store, started by
// startFileFleet.
type fileFleet struct {
	ready, done sync.WaitGroup // each child served a token; each child exited
	failed      []int          // failed API calls, per child
}

// startFileFleet starts one child process per entry of env (this test
// binary, re-run as testName, with that entry added to its environment),
// sharing the token directory dir and calling the API at base for runFor.
func startFileFleet(t *testing.T, testName, dir, base string, runFor time.Duration, env [][]string) *fileFleet {
	f := &fileFleet{failed: make([]int, len(env))}
	f.ready.Add(len(env))
	for i, extra := range env {
		cmd := exec.Command(os.Args[0], "-test.run=^"+testName+"$", "-test.v")
		cmd.Env = append(append(os.Environ(), extra...), envSkewDir+"="+dir, envSkewBase+"="+base, envSkewFor+"="+runFor.String())
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		f.done.Go(func() {
			sc := bufio.NewScanner(out)
			sawReady := false
			defer func() {
				if !sawReady {
					f.ready.Done()
				}
			}()
			for sc.Scan() {
				if sc.Text() == "READY" && !sawReady {
					sawReady = true
					f.ready.Done()
				}
				if v, ok := strings.CutPrefix(sc.Text(), "SKEW "); ok {
					f.failed[i], _ = strconv.Atoi(v)
				}
			}
			assert.NoError(t, cmd.Wait(), "child %d", i)
		})
	}
	return f
}

func skewChild(t *testing.T, dir string) {
	var store ucoauth.TokenStore
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	if v := os.Getenv(envSkewSeal); v != "" {
		keys, err := tokenstore.ParseSealKeys(v)
		require.NoError(t, err)
		store, err = tokenstore.Seal(store, keys[0], keys[1:]...)
		require.NoError(t, err)
	}
	runFor, err := time.ParseDuration(os.Getenv(envSkewFor))
	require.NoError(t, err)
	base := os.Getenv(envSkewBase)
	cfg := ucoauth.NewConfig(ucoauthtest.DefaultClientID, ucoauthtest.DefaultClientSecret, "")
	cfg.Endpoint = ucoauth.EndpointAt(base)
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer hc.CloseIdleConnections()
	early := 500 * time.Millisecond
	if v := os.Getenv(envSkewEarly); v != "" {
		early, err = time.ParseDuration(v)
		require.NoError(t, err)
	}
	src := ucoauth.NewTokenSource(cfg, store, "DEMO", ucoauth.WithEarlyRefresh(early), ucoauth.WithHTTPClient(hc))
	defer src.Close()
	api := &http.Client{Transport: &ucoauth.Transport{Source: src, Base: hc.Transport}}
	failed, ready := 0, false
	for stop := time.Now().Add(runFor); time.Now().Before(stop); time.Sleep(20 * time.Millisecond) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/order/orders", nil)
		require.NoError(t, err)
		req.Header.Set(ultracart.HeaderAPIVersion, ultracart.APIVersion)
		resp, err := api.Do(req)
		if err != nil {
			failed++
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			failed++
		} else if !ready {
			ready = true
			fmt.Println("READY")
		}
	}
	fmt.Printf("SKEW %d\n", failed)
}

// TestSealKeyRollingDeployFleet runs step 1 of the sealing key rotation as
// a rolling deploy does: two OS processes over one sealed file store, one
// already given k2 as its primary key, one still on k1 alone, with rotation
// on and tokens lasting 2 s. The process on k1 cannot read what the other
// seals: it must neither send the refresh token in its memory, which the
// other rotated away, nor overwrite the record; the grant survives.
func TestSealKeyRollingDeployFleet(t *testing.T) {
	if dir := os.Getenv(envSkewDir); dir != "" {
		skewChild(t, dir)
		return
	}
	k1 := "k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1, 2}, 16))
	k2 := "k2:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3, 4}, 16))
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetRotation(true)
	srv.SetLifetime(2 * time.Second)
	dir := filepath.Join(t.TempDir(), "tokens")
	file, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	keys, err := tokenstore.ParseSealKeys(k2 + "," + k1)
	require.NoError(t, err)
	store, err := tokenstore.Seal(file, keys[0], keys[1:]...)
	require.NoError(t, err)
	oldKeys, err := tokenstore.Seal(file, keys[1])
	require.NoError(t, err)
	require.NoError(t, oldKeys.Save(t.Context(), "DEMO", srv.Issue("DEMO")))

	f := startFileFleet(t, "TestSealKeyRollingDeployFleet", dir, srv.BaseURL(), 4*time.Second,
		// The process on k2 refreshes first: its early window is wider.
		[][]string{{envSkewSeal + "=" + k2 + "," + k1, envSkewEarly + "=1s"}, {envSkewSeal + "=" + k1}})
	f.done.Wait()

	st := srv.Stats()
	t.Logf("refreshes %d, invalid_grant %d, failed calls per process %v", st.Refreshes(), st.InvalidGrant, f.failed)
	require.Positive(t, st.Refreshes(), "precondition: the process on k2 refreshed")
	assert.Zero(t, st.InvalidGrant, "the process on k1 sent a refresh token that was rotated away")
	assert.Zero(t, f.failed[0], "the process on k2 is unaffected")
	require.Positive(t, f.failed[1], "precondition: the process on k1 could not read the record")

	// The grant survives: a process given both keys refreshes it.
	tok, err := store.Load(t.Context(), "DEMO")
	require.NoError(t, err)
	before := srv.Stats().Refreshes()
	// A clock an hour ahead: the stored token has expired, so the first
	// Token() refreshes it now.
	src := ucoauth.NewTokenSource(srv.Config(), store, "DEMO",
		ucoauth.WithClock(func() time.Time { return time.Now().Add(time.Hour) }))
	defer src.Close()
	refreshed, err := src.Token()
	require.NoError(t, err)
	assert.NotEqual(t, tok.AccessToken, refreshed.AccessToken)
	assert.Equal(t, before+1, srv.Stats().Refreshes())
	assert.Zero(t, srv.Stats().InvalidGrant)
}

package ucoauth_test

import (
	"bufio"
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
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// Environment of the child processes of TestShorterLifetimeFleet.
const (
	envSkewDir  = "UCOAUTH_SKEW_DIR"
	envSkewBase = "UCOAUTH_SKEW_BASE"
	envSkewFor  = "UCOAUTH_SKEW_FOR"
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
	var wg, ready sync.WaitGroup
	ready.Add(procs)
	failed := make([]int, procs)
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestShorterLifetimeFleet$", "-test.v")
		cmd.Env = append(os.Environ(), envSkewDir+"="+dir, envSkewBase+"="+srv.BaseURL(), envSkewFor+"="+(4*time.Second).String())
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		wg.Go(func() {
			sc := bufio.NewScanner(out)
			sawReady := false
			defer func() {
				if !sawReady {
					ready.Done()
				}
			}()
			for sc.Scan() {
				if sc.Text() == "READY" && !sawReady {
					sawReady = true
					ready.Done()
				}
				if v, ok := strings.CutPrefix(sc.Text(), "SKEW "); ok {
					failed[i], _ = strconv.Atoi(v)
				}
			}
			assert.NoError(t, cmd.Wait(), "child %d", i)
		})
	}
	ready.Wait() // every process serves the one-hour token
	// UltraCart's clock jumps two hours (or the fleet's clocks were that far
	// behind all along): the API refuses the token in use, and from now on
	// tokens last 30 s.
	srv.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
	srv.SetLifetime(30 * time.Second)
	wg.Wait()

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

func skewChild(t *testing.T, dir string) {
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	runFor, err := time.ParseDuration(os.Getenv(envSkewFor))
	require.NoError(t, err)
	base := os.Getenv(envSkewBase)
	cfg := ucoauth.NewConfig(ucoauthtest.DefaultClientID, ucoauthtest.DefaultClientSecret, "")
	cfg.Endpoint = ucoauth.EndpointAt(base)
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer hc.CloseIdleConnections()
	src := ucoauth.NewTokenSource(cfg, store, "DEMO",
		ucoauth.WithEarlyRefresh(500*time.Millisecond), ucoauth.WithHTTPClient(hc))
	defer src.Close()
	api := &http.Client{Transport: &ucoauth.Transport{Source: src, Base: hc.Transport}}
	failed, ready := 0, false
	for stop := time.Now().Add(runFor); time.Now().Before(stop); time.Sleep(20 * time.Millisecond) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/order/orders", nil)
		require.NoError(t, err)
		req.Header.Set(ucoauth.HeaderAPIVersion, ucoauth.APIVersion)
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

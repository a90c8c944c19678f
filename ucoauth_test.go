// Package ucoauth_test drives ucoauth, tokenstore and ucoauthtest together,
// through oauth2.NewClient-style clients, the way a user would.
package ucoauth_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/internal/ultracart"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// Nothing the library starts outlives its owner, across stores, servers and
// processes: no ignore options.
// Child processes (of TestProcessesShareOneRefresh and the file fleets) are
// not checked: they keep connections to the parent's server, and exit.
// TestMain checks for leaked goroutines, except in the child processes
// that the multi-process tests start: those keep connections to their
// parent's servers until they exit.
func TestMain(m *testing.M) {
	if isChildProcess() {
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}

func isChildProcess() bool {
	for _, env := range []string{envChildDir, envSkewDir, envRevokedDir} {
		if os.Getenv(env) != "" {
			return true
		}
	}
	return false
}

func apiGet(t *testing.T, c *http.Client, url string) (int, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestEndToEnd(t *testing.T) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	srv.SetClock(now)
	srv.SetLifetime(time.Hour)
	ctx := t.Context()

	// Connect the merchant.
	cfg := srv.Config(ucoauth.ScopeOrderRead, ucoauth.ScopeItemRead)
	code, err := srv.Authorize(ctx, cfg, "state-123", "MERCH")
	require.NoError(t, err)
	tok, err := ucoauth.Exchange(ctx, cfg, code)
	require.NoError(t, err)
	assert.Equal(t, "order_read item_read", tok.Extra("scope"))
	dir := filepath.Join(t.TempDir(), "tokens")
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	require.NoError(t, store.Save(ctx, "MERCH", tok))

	// Call the API, forget about expiry.
	src := ucoauth.NewTokenSource(cfg, store, "MERCH", ucoauth.WithClock(now))
	client := ucoauth.NewClient(ctx, src)
	status, err := apiGet(t, client, srv.BaseURL()+"/order/orders")
	require.NoError(t, err)
	assert.Equal(t, 200, status)

	skew.Add(int64(2 * time.Hour))
	status, err = apiGet(t, client, srv.BaseURL()+"/order/orders")
	require.NoError(t, err)
	assert.Equal(t, 200, status, "the expired token was refreshed silently")
	assert.Equal(t, 1, srv.Stats().Refreshes())

	// Survive a restart: a new process reads the refreshed token from disk.
	store2, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	src2 := ucoauth.NewTokenSource(cfg, store2, "MERCH", ucoauth.WithClock(now))
	status, err = apiGet(t, ucoauth.NewClient(ctx, src2), srv.BaseURL()+"/item/items")
	require.NoError(t, err)
	assert.Equal(t, 200, status)
	assert.Equal(t, 1, srv.Stats().Refreshes(), "the restarted process needed no refresh")

	// It plugs into x/oauth2's own client too.
	xclient := oauth2.NewClient(ctx, src2)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.BaseURL()+"/item/items", nil)
	req.Header.Set(ultracart.HeaderAPIVersion, ultracart.APIVersion)
	resp, err := xclient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)

	// Disconnect.
	current, err := src2.Token()
	require.NoError(t, err)
	require.NoError(t, src2.Revoke(ctx))
	_, err = store.Load(ctx, "MERCH")
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
	_, err = apiGet(t, ucoauth.NewClient(ctx, src2), srv.BaseURL()+"/order/orders")
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
	static := &http.Client{Transport: &ucoauth.Transport{Source: oauth2.StaticTokenSource(current), Origin: srv.URL}}
	status, err = apiGet(t, static, srv.BaseURL()+"/order/orders")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, status, "the revoked token is dead at UltraCart")
}

// TestXOAuth2AloneChokes pins the README's claim: bare x/oauth2 fails the
// whole response on an expires_in of "", " 3600" or "3600.0", where ucoauth
// does not.
func TestXOAuth2AloneChokes(t *testing.T) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	cfg := srv.Config()
	for _, f := range []string{`""`, `" %d "`, `"%d.0"`} {
		srv.SetExpiresIn(f)
		code, err := srv.Authorize(t.Context(), cfg, "s", "")
		require.NoError(t, err)
		_, err = cfg.Exchange(t.Context(), code)
		assert.Error(t, err, "x/oauth2 rejects expires_in %s", f)

		code, err = srv.Authorize(t.Context(), cfg, "s", "")
		require.NoError(t, err)
		tok, err := ucoauth.Exchange(t.Context(), cfg, code)
		require.NoError(t, err, "ucoauth reads expires_in %s", f)
		assert.NotEmpty(t, tok.RefreshToken)
	}
}

func TestDeviceFlow(t *testing.T) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	cfg := srv.Config(ucoauth.ScopeOrderRead)
	da, err := cfg.DeviceAuth(t.Context())
	require.NoError(t, err)
	assert.NotEmpty(t, da.UserCode)
	tok, err := ucoauth.DeviceAccessToken(t.Context(), cfg, da)
	require.NoError(t, err)
	assert.NotEmpty(t, tok.AccessToken)
	assert.Equal(t, 2, srv.Stats().Token[ultracart.GrantTypeDeviceCode], "one pending poll, then the token")
}

// Environment of the child processes of TestProcessesShareOneRefresh.
const (
	envChildDir  = "UCOAUTH_E2E_CHILD_DIR"
	envChildBase = "UCOAUTH_E2E_CHILD_BASE"
	envChildOld  = "UCOAUTH_E2E_CHILD_OLD"
)

// TestProcessesShareOneRefresh runs 4 OS processes (this test binary, re-run)
// over one token directory. They all reach the token's expiry together, with
// rotation on: one refresh must reach UltraCart, and no process may use a
// dead refresh token.
func TestProcessesShareOneRefresh(t *testing.T) {
	if dir := os.Getenv(envChildDir); dir != "" {
		fileStoreChild(t, dir)
		return
	}
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetRotation(true)
	srv.SetLifetime(4 * time.Second)
	dir := filepath.Join(t.TempDir(), "tokens")
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	tok := srv.Issue("DEMO")
	require.NoError(t, store.Save(t.Context(), "DEMO", tok))

	const procs = 4
	var wg sync.WaitGroup
	results := make([]string, procs)
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestProcessesShareOneRefresh$", "-test.v")
		cmd.Env = append(os.Environ(), envChildDir+"="+dir, envChildBase+"="+srv.BaseURL(), envChildOld+"="+tok.AccessToken)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		wg.Go(func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), "FINAL "); ok {
					results[i] = v
				}
			}
			assert.NoError(t, cmd.Wait(), "child %d", i)
		})
	}
	wg.Wait()

	st := srv.Stats()
	assert.Equal(t, 1, st.Refreshes(), "4 processes at expiry must make exactly one refresh")
	assert.Zero(t, st.InvalidGrant, "no process may use a rotated-away refresh token")
	stored, err := store.Load(t.Context(), "DEMO")
	require.NoError(t, err)
	for i, r := range results {
		assert.Equal(t, ucoauth.Fingerprint(stored.AccessToken), r, "process %d ends on the stored token", i)
	}
}

func fileStoreChild(t *testing.T, dir string) {
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	cfg := ucoauth.NewConfig(ucoauthtest.DefaultClientID, ucoauthtest.DefaultClientSecret, "")
	cfg.Endpoint = ucoauth.EndpointAt(os.Getenv(envChildBase))
	// The child's own client, so that its keep-alive connections to the
	// parent's server can be closed before goleak looks.
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer hc.CloseIdleConnections()
	src := ucoauth.NewTokenSource(cfg, store, "DEMO", ucoauth.WithEarlyRefresh(0), ucoauth.WithHTTPClient(hc))
	defer src.Close()
	old := os.Getenv(envChildOld)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	var final atomic.Value
	var wg sync.WaitGroup
	for range 8 { // hammer from several goroutines until the new token shows
		wg.Go(func() {
			for ctx.Err() == nil {
				tok, err := src.TokenContext(ctx)
				if !assert.NoError(t, err) {
					return
				}
				if tok.AccessToken != old {
					final.Store(tok.AccessToken)
					return
				}
			}
		})
	}
	wg.Wait()
	at, ok := final.Load().(string)
	require.True(t, ok, "never saw the refreshed token")
	fmt.Printf("FINAL %s\n", ucoauth.Fingerprint(at))
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("timed out")
	}
}

package ucoauthtest_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

func TestStandaloneServesOnYourOwnServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fake := ucoauthtest.NewStandalone("http://" + l.Addr().String() + "/")
	srv := &http.Server{Handler: fake.Handler()}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	assert.Equal(t, "http://"+l.Addr().String()+"/rest/v2", fake.BaseURL())

	resp, err := http.Get(fake.URL + "/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "GET / lets scripts wait for the server")
	assert.Contains(t, string(body), fake.BaseURL())

	ctx := context.Background()
	cfg := fake.Config(ucoauth.ScopeOrderRead)
	code, err := fake.Authorize(ctx, cfg, "st", "M7")
	require.NoError(t, err)
	tok, err := ucoauth.Exchange(ctx, cfg, code)
	require.NoError(t, err)
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(ctx, "M7", tok))
	resp, err = ucoauth.NewClient(ctx, ucoauth.NewTokenSource(cfg, store, "M7")).Get(fake.BaseURL() + "/order/orders")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), `"merchant_id":"M7"`, "the API names the grant's merchant")

	da, err := cfg.DeviceAuth(ctx)
	require.NoError(t, err)
	resp, err = http.Get(da.VerificationURI)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the device flow's verification page exists")

	fake.Close() // nothing to close: a no-op, not a panic
}

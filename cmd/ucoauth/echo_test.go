package main_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"golang.org/x/oauth2"
)

// TestRefreshErrorNeverEchoesTheSecret: `ucoauth refresh` against a token
// endpoint that echoes the client secret percent-encoded with lowercase hex
// (as RFC 3986 allows) fails with one line that does not hold the secret.
func TestRefreshErrorNeverEchoesTheSecret(t *testing.T) {
	const secret = "cli/secret+value"
	const echo = "cli%2fsecret%2bvalue"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("UC-REST-ERROR", "unknown client_secret "+echo)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_client"}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	require.NoError(t, store.Save(context.Background(), "M1", &oauth2.Token{AccessToken: "AT-cli-0000", RefreshToken: "RT-cli-0000",
		TokenType: "bearer", Expiry: time.Now().Add(-time.Minute)}))
	r := runCmd(t, baseEnv("UCOAUTH_STORE=file:"+dir, "ULTRACART_BASE_URL="+srv.URL+"/rest/v2",
		"ULTRACART_CLIENT_ID=cid", "ULTRACART_CLIENT_SECRET="+secret), "refresh", "M1")
	t.Logf("exit %d, stderr: %s", r.code, r.stderr)
	assert.NotEqual(t, 0, r.code)
	assert.NotContains(t, r.stderr, echo, "the CLI printed the client secret (percent-encoded)")
	assert.NotContains(t, r.stderr, secret)
}

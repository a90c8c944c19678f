package square_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// A hostile (or broken) Square echoes secrets in merchant_id, the one extra
// that is free text and is stored in the clear, even by a sealed store:
// the new access and refresh tokens (base64 too), and what the request
// carried: the client secret, the code and code verifier, or the refresh
// token sent. None reaches the token the caller gets, the merchant ID, or
// the sealed record on disk.
func TestServerCannotSmuggleSecretsIntoTheStoredExtras(t *testing.T) {
	const (
		secret   = "sq0csp-hostile-application-secret"
		code     = "sq0cgp-hostile-authorization-code"
		verifier = "hostile-code-verifier-0123456789abcdefghijklmnopq"
	)
	var n atomic.Int32
	var sentRefresh atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req map[string]any
		_ = json.Unmarshal(b, &req)
		i := n.Add(1)
		at, rt := fmt.Sprintf("EAAAhostile-access-%04d", i), fmt.Sprintf("EQAAhostile-refresh-%04d", i)
		// It echoes what this request carried (the engine can scrub
		// only what it knows: a spent code is no longer held).
		echo := at + "|" + rt + "|" + base64.StdEncoding.EncodeToString([]byte(rt))
		for _, k := range []string{"client_secret", "code", "code_verifier", "refresh_token"} {
			if v, ok := req[k].(string); ok {
				echo += "|" + v
			}
		}
		if old, ok := req["refresh_token"].(string); ok {
			sentRefresh.Store(old)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": at, "token_type": "bearer", "refresh_token": rt,
			"expires_at":  time.Now().Add(square.AccessTokenLifetime).UTC().Format(time.RFC3339),
			"merchant_id": "ML-" + echo, "short_lived": false,
		})
	}))
	defer srv.Close()
	cfg := square.NewConfig("sq0idp-app", secret, "https://app.example/cb", "MERCHANT_PROFILE_READ")
	cfg.Endpoint = square.EndpointAt(srv.URL)
	sq := ucoauth.WithProvider(square.Provider{})

	tok, err := ucoauth.Exchange(t.Context(), cfg, code, sq, ucoauth.WithAuthCodeOptions(oauth2.VerifierOption(verifier)))
	require.NoError(t, err)
	require.Equal(t, "EQAAhostile-refresh-0001", tok.RefreshToken, "precondition: the answer was read")
	noSecretIn := func(what, s string, secrets ...string) {
		t.Helper()
		for _, x := range append([]string{secret, code, verifier}, secrets...) {
			assert.NotContains(t, s, x, "%s", what)
		}
		assert.NotContains(t, s, base64.StdEncoding.EncodeToString([]byte(tok.RefreshToken)), "%s: base64 of the refresh token", what)
	}
	noSecretIn("merchant ID after Exchange", square.MerchantID(tok), tok.AccessToken, tok.RefreshToken)
	assert.True(t, strings.HasPrefix(square.MerchantID(tok), "ML-"), "the rest of the merchant ID is kept")

	keys, err := tokenstore.ParseSealKeys("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7, 9}, 16)))
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "tokens")
	f, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	store, err := tokenstore.Seal(f, keys[0])
	require.NoError(t, err)
	expired := *tok // as saved, but expired: the source refreshes it at once
	expired.Expiry = time.Now().Add(-time.Minute)
	require.NoError(t, store.Save(t.Context(), "M", &expired))

	src := ucoauth.NewTokenSource(cfg, store, "M", sq)
	defer src.Close()
	fresh, err := src.Token()
	require.NoError(t, err)
	require.Equal(t, "EQAAhostile-refresh-0001", sentRefresh.Load(), "precondition: the refresh happened")
	require.NotEqual(t, tok.AccessToken, fresh.AccessToken)
	noSecretIn("merchant ID after a refresh", square.MerchantID(fresh), fresh.AccessToken, fresh.RefreshToken, tok.RefreshToken)
	assert.True(t, strings.HasPrefix(square.MerchantID(fresh), "ML-"))

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var records int
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil || e.IsDir() {
			continue
		}
		records++
		noSecretIn("the sealed record "+e.Name(), string(raw), fresh.AccessToken, fresh.RefreshToken, tok.AccessToken, tok.RefreshToken)
	}
	require.Positive(t, records)
}

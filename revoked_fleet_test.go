package ucoauth_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/fleet"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// Environment of the child processes of TestRevokedMerchantStaysRevokedFleet.
const (
	envRevokedDir = "UCOAUTH_REVOKED_DIR" // a file store's directory
)

// TestRevokedMerchantStaysRevokedFleet runs 3 OS processes over one store
// (a file store; redisstore runs it on Redis), each holding the merchant's tokens in memory and refreshing them
// (tokens last 2 s, rotation on), against a server that revokes only the
// token it is sent (RFC 7009). A fourth process (this one) revokes the
// merchant. No process may bring the merchant back: each meets the
// tombstone, on a load or on a refused save, drops its tokens and answers
// ErrReauthorizationRequired, and the store never again holds a token of
// the revoked grant. A new authorization then replaces the tombstone, and
// every process serves it.
//
// Under RevokeAccessOnly the server cannot revoke the refresh token, so
// the processes' refreshes succeed at the server: only the tombstone keeps
// the merchant out of the store. Under RevokeRFC7009Strict the refresh
// token dies too.
func TestRevokedMerchantStaysRevokedFleet(t *testing.T) {
	if dir := os.Getenv(envRevokedDir); dir != "" {
		store, err := tokenstore.NewFile(dir)
		require.NoError(t, err)
		fleet.RevokedChild(t, store)
		return
	}
	for _, mode := range []struct {
		name   string
		answer ucoauthtest.RevokeAnswer
	}{{"AccessOnly", ucoauthtest.RevokeAccessOnly}, {"Strict", ucoauthtest.RevokeRFC7009Strict}} {
		t.Run("File/"+mode.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "tokens")
			store, err := tokenstore.NewFile(dir)
			require.NoError(t, err)
			fleet.Revoked(t, "TestRevokedMerchantStaysRevokedFleet", mode.answer, store, envRevokedDir+"="+dir)
		})
	}
}

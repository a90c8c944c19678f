package square_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/square/squaretest"
)

// printed renders v in every way a program could log it.
func printed(t *testing.T, v any) string {
	t.Helper()
	var b strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		fmt.Fprintf(&b, verb+"\n", v)
	}
	j, err := json.Marshal(v)
	if err == nil {
		b.Write(j)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "v", v)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "v", v)
	b.WriteString(logs.String())
	return b.String()
}

func assertNoSecret(t *testing.T, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		assert.NotContains(t, out, s)
	}
}

func TestTokenRequestAndClientPrintNoSecret(t *testing.T) {
	r := square.TokenRequest{ClientID: "sq0idp-id", ClientSecret: "sq0csp-SECRET1", GrantType: square.GrantRefreshToken,
		RefreshToken: "EQAA-REFRESH1", Code: "sq0cgp-CODE1", CodeVerifier: "VERIFIER1"}
	out := printed(t, r) + printed(t, &r)
	assertNoSecret(t, out, "SECRET1", "REFRESH1", "CODE1", "VERIFIER1")
	assert.Contains(t, out, "sq0idp-id", "the client ID is not secret and helps debugging")

	c := square.NewClient(square.NewConfig("sq0idp-id", "sq0csp-SECRET2", "https://app/cb"))
	out = printed(t, c)
	assertNoSecret(t, out, "SECRET2")
	assert.Contains(t, out, "sq0idp-id")
}

// TestErrorsCarryNoSecretEvenWhenSquareEchoesThem: a hostile or buggy server
// echoes secrets, raw, JSON-escaped and URL-escaped, in its error body; the
// error shows neither the application's secret (the Authorization: Client
// header value included), which every call scrubs, nor the tokens the call
// sent.
func TestErrorsCarryNoSecretEvenWhenSquareEchoesThem(t *testing.T) {
	sq := newFake(t)
	ctx := context.Background()
	sq.ClientSecret = "sq0csp-SECRET+/=\"3"
	tok := sq.Issue("M1")
	secrets := []string{sq.ClientSecret, "Client " + sq.ClientSecret, tok.RefreshToken, tok.AccessToken}
	var echo []string
	for _, s := range secrets {
		j, _ := json.Marshal(s)
		echo = append(echo, s, string(j), url.QueryEscape(s))
	}
	detail := strings.Join(echo, " | ")
	hostile := squaretest.ErrorBody("AUTHENTICATION_ERROR", "UNAUTHORIZED", detail)
	c := square.NewClient(sq.Config())

	for _, path := range []string{"/oauth2/token", "/oauth2/revoke", "/oauth2/token/status"} {
		sq.FailNext(1, squaretest.Failure{Status: 401, Body: hostile, Path: path})
	}
	_, errToken := c.Refresh(ctx, tok.RefreshToken)
	errRevoke := c.Revoke(ctx, square.RevokeRequest{AccessToken: tok.AccessToken})
	_, errStatus := c.Status(ctx, tok.AccessToken)
	for name, c := range map[string]struct {
		err  error
		sent string
	}{"token": {errToken, tok.RefreshToken}, "revoke": {errRevoke, tok.AccessToken}, "status": {errStatus, tok.AccessToken}} {
		require.Error(t, c.err, name)
		out := printed(t, c.err) + c.err.Error()
		assertNoSecret(t, out, "SECRET", c.sent[4:])
		assert.Contains(t, out, "UNAUTHORIZED", name)
	}
}

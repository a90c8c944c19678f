package ucoauth_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// A provider whose answer names its tokens in its own way (camelCase, nested)
// and that warns with the tokens in the warning's text: the engine knows
// the tokens once the provider returns them, and scrubs them from every log
// line, RefreshEvent and error that carries the warning.
func TestProviderWarningNamingItsTokensIsScrubbed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"data":{"accessToken":"warn-access-token-1","refreshToken":"warn-refresh-token-1"}}`)
	}))
	defer srv.Close()
	p := funcProvider{parseToken: func(a *ucoauth.Answer) (*oauth2.Token, error) {
		var v struct {
			Data struct{ AccessToken, RefreshToken string }
		}
		require.NoError(t, json.Unmarshal(a.Body, &v))
		tok := &oauth2.Token{AccessToken: v.Data.AccessToken, RefreshToken: v.Data.RefreshToken}
		return tok, fmt.Errorf("no lifetime for %s (refresh %q)", tok.AccessToken, tok.RefreshToken)
	}}
	var mu sync.Mutex
	var buf bytes.Buffer
	logs := func() string { mu.Lock(); defer mu.Unlock(); return buf.String() }
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{&buf, &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := misbehavingConfig(srv)
	tok, err := ucoauth.Exchange(t.Context(), cfg, "warn-code-1", ucoauth.WithProvider(p), ucoauth.WithLogger(logger))
	require.NoError(t, err)
	require.Equal(t, "warn-access-token-1", tok.AccessToken)

	store := tokenstore.NewMemory()
	tok.Expiry = time.Now().Add(-time.Minute)
	require.NoError(t, store.Save(t.Context(), "m", tok))
	// The hook runs in the refreshing goroutine, after the log line.
	events := make(chan string, 1)
	src := ucoauth.NewTokenSource(cfg, store, "m", ucoauth.WithProvider(p), ucoauth.WithLogger(logger),
		ucoauth.WithRefreshHook(func(e ucoauth.RefreshEvent) {
			b, _ := json.Marshal(e)
			events <- fmt.Sprintf("%v %+v %#v %s %s", e, e, e, e.Err, b)
		}))
	defer src.Close()
	_, err = src.Token()
	require.NoError(t, err)
	event := <-events
	out := logs() + event
	assert.Contains(t, out, "no lifetime for", "the warning was logged")
	assert.NotContains(t, out, "warn-access-token-1")
	assert.NotContains(t, out, "warn-refresh-token-1")
}

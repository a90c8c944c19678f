package fleet

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
	"golang.org/x/oauth2"
)

// TestTraceNumbersRefreshTokensByGeneration: through the trace, child 7
// rotates the seed (generation 0 -> 1), then presents the seed again and is
// refused; the trace says who presented which generation, what was newest
// then, and the answer. AfterNextAnswer waits for an answer that issues a
// token: the refusal does not run it.
func TestTraceNumbersRefreshTokensByGeneration(t *testing.T) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetRotation(true)
	seed := srv.Issue("DEMO")
	tr := NewTrace(t, srv.BaseURL(), seed.RefreshToken)

	cfg := srv.Config()
	cfg.Endpoint = ucoauth.EndpointAt(tr.BaseURL())
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, &http.Client{Transport: childHeader{child: "7", next: transport}})
	refresh := func(rt string) (*oauth2.Token, error) {
		return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Minute)}).Token()
	}

	first, err := refresh(seed.RefreshToken)
	require.NoError(t, err)
	tr.Mark("rotated")
	var ran int
	tr.AfterNextAnswer(func() { ran++ })
	_, err = refresh(seed.RefreshToken)
	require.Error(t, err, "precondition: the fake refuses a rotated-away refresh token")
	assert.Zero(t, ran, "a refusal is not the answer AfterNextAnswer waits for")
	_, err = refresh(first.RefreshToken)
	require.NoError(t, err)
	assert.Equal(t, 1, ran, "the next answer that issued a token ran it, once")
	_, err = refresh("never-issued")
	require.Error(t, err)

	lines := strings.Split(tr.String(), "\n")
	require.Len(t, lines, 5, tr.String())
	assert.Regexp(t, `^ *[0-9.]+s child 7 presents gen 0 \(newest 0\): 200 -> gen 1$`, lines[0])
	assert.Regexp(t, `^ *[0-9.]+s --- rotated$`, lines[1])
	assert.Regexp(t, `^ *[0-9.]+s child 7 presents gen 0 \(newest 1\): 400 invalid_grant$`, lines[2])
	assert.Regexp(t, `^ *[0-9.]+s child 7 presents gen 1 \(newest 1\): 200 -> gen 2$`, lines[3])
	assert.Regexp(t, `^ *[0-9.]+s child 7 presents gen unknown \(newest 2\): 400 invalid_grant$`, lines[4])
	assert.NotContains(t, tr.String(), seed.RefreshToken, "the trace names generations, not tokens")
}

// TestChildOptionsNameTheChild: a fleet process's source sends its index
// (EnvChild) in HeaderChild.
func TestChildOptionsNameTheChild(t *testing.T) {
	t.Setenv(EnvChild, "3")
	t.Setenv(EnvDebug, "")
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetRotation(true)
	seed := srv.Issue("DEMO")
	tr := NewTrace(t, srv.BaseURL(), seed.RefreshToken)
	cfg := srv.Config()
	cfg.Endpoint = ucoauth.EndpointAt(tr.BaseURL())
	seed.Expiry = time.Now().Add(-time.Minute)
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(t.Context(), "DEMO", seed))
	src := ucoauth.NewTokenSource(cfg, store, "DEMO", ChildOptions()...)
	defer src.Close()
	_, err := src.Token()
	require.NoError(t, err)
	assert.Contains(t, tr.String(), "child 3 presents gen 0 (newest 0): 200 -> gen 1")
}

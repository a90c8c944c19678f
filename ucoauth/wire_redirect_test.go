package ucoauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// thief is another host a redirect points at. It counts every request and
// answers like a token endpoint, so that a client that followed would store
// its token.
func thief(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"stolen-at","refresh_token":"stolen-rt","expires_in":"3600","successful":true}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestNoRedirectIsFollowed(t *testing.T) {
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, target := range []string{"other-loopback-host", "http://example.com/steal"} {
			t.Run(http.StatusText(status)+" to "+target, func(t *testing.T) {
				th, hits := thief(t)
				loc := th.URL + "/steal"
				if target != "other-loopback-host" {
					loc = target
				}
				uc := ucoauthtest.NewServer()
				defer uc.Close()
				cfg := uc.Config()
				// Whatever client the caller brings, redirects are refused.
				ctx := t.Context()
				sk := ucoauth.WithSimpleKey("simple-key")
				checkRefused := func(t *testing.T, err error) {
					t.Helper()
					require.Error(t, err)
					assert.ErrorIs(t, err, ucoauth.ErrRedirect)
					var e *ucoauth.Error
					require.ErrorAs(t, err, &e)
					assert.Equal(t, status, e.StatusCode)
					assert.False(t, e.Temporary())
					assert.NotContains(t, err.Error(), "steal", "nothing of the redirect is used")
				}

				t.Run("Exchange", func(t *testing.T) {
					code, err := uc.Authorize(ctx, cfg, "s", "")
					require.NoError(t, err)
					uc.FailNext(1, ucoauthtest.Redirect("", status, loc))
					tok, err := ucoauth.Exchange(ctx, cfg, code, sk)
					checkRefused(t, err)
					assert.Nil(t, tok)
				})
				t.Run("TokenSource refresh", func(t *testing.T) {
					store := tokenstore.NewMemory()
					old := uc.Issue("M")
					old.Expiry = time.Now().Add(-time.Minute)
					require.NoError(t, store.Save(ctx, "m", old))
					uc.FailNext(1, ucoauthtest.Redirect("", status, loc))
					src := ucoauth.NewTokenSource(cfg, store, "m", ucoauth.WithSimpleKey("simple-key"),
						ucoauth.WithHTTPClient(&http.Client{})) // a client that would follow
					_, err := src.Token()
					checkRefused(t, err)
					stored, err := store.Load(ctx, "m")
					require.NoError(t, err)
					assert.Equal(t, old.RefreshToken, stored.RefreshToken, "nothing saved")
					assert.Equal(t, old.AccessToken, stored.AccessToken, "nothing saved")
				})
				t.Run("Revoke", func(t *testing.T) {
					tok := uc.Issue("M")
					uc.FailNext(1, ucoauthtest.Redirect("/oauth/revoke", status, loc))
					err := ucoauth.Revoke(ctx, cfg, tok.AccessToken, sk, ucoauth.WithHTTPClient(&http.Client{}))
					checkRefused(t, err)

					store := tokenstore.NewMemory()
					require.NoError(t, store.Save(ctx, "m", tok))
					uc.FailNext(1, ucoauthtest.Redirect("/oauth/revoke", status, loc))
					src := ucoauth.NewTokenSource(cfg, store, "m")
					checkRefused(t, src.Revoke(ctx))
					_, err = store.Load(ctx, "m")
					assert.NoError(t, err, "a refused revoke keeps the token")
				})
				t.Run("device flow", func(t *testing.T) {
					uc.FailNext(1, ucoauthtest.Redirect("/oauth/device/authorize", status, loc))
					_, err := ucoauth.DeviceAuth(ctx, cfg, sk)
					checkRefused(t, err)
					da, err := ucoauth.DeviceAuth(ctx, cfg, sk)
					require.NoError(t, err)
					uc.FailNext(1, ucoauthtest.Redirect("", status, loc))
					tok, err := ucoauth.DeviceAccessToken(ctx, cfg, da, sk)
					checkRefused(t, err)
					assert.Nil(t, tok)
				})
				assert.Zero(t, hits.Load(), "the other host was never reached")
			})
		}
	}
}

// A redirect is refused even through a client whose CheckRedirect allows
// everything, and the caller's client is not modified.
func TestRedirectRefusedWithCallersClient(t *testing.T) {
	th, hits := thief(t)
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	follow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, follow)
	code, err := uc.Authorize(ctx, uc.Config(), "s", "")
	require.NoError(t, err)
	uc.FailNext(1, ucoauthtest.Redirect("", http.StatusTemporaryRedirect, th.URL))
	_, err = ucoauth.Exchange(ctx, uc.Config(), code)
	assert.True(t, errors.Is(err, ucoauth.ErrRedirect), "%v", err)
	assert.Zero(t, hits.Load())
	assert.NotNil(t, follow.CheckRedirect, "the caller's client is untouched")
	require.NoError(t, follow.CheckRedirect(nil, nil))
}

// followingTransport is a caller's Transport that follows redirects itself,
// through an inner http.Client: the outer client's CheckRedirect never sees
// them.
type followingTransport struct{ inner *http.Client }

func (f followingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	return f.inner.Do(out)
}

// A redirect followed inside the caller's Transport is still refused:
// the other host's answer is never taken, nothing is stored.
func TestRedirectFollowedByTransportIsRefused(t *testing.T) {
	th, hits := thief(t)
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	cfg := uc.Config()
	client := &http.Client{Transport: followingTransport{inner: &http.Client{}}}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, client)

	code, err := uc.Authorize(ctx, cfg, "s", "")
	require.NoError(t, err)
	uc.FailNext(1, ucoauthtest.Redirect("", http.StatusTemporaryRedirect, th.URL+"/steal"))
	tok, err := ucoauth.Exchange(ctx, cfg, code)
	assert.ErrorIs(t, err, ucoauth.ErrRedirect)
	assert.Nil(t, tok, "the other host's token is not taken")

	store := tokenstore.NewMemory()
	old := uc.Issue("M")
	old.Expiry = time.Now().Add(-time.Minute)
	require.NoError(t, store.Save(ctx, "m", old))
	uc.FailNext(1, ucoauthtest.Redirect("", http.StatusPermanentRedirect, th.URL+"/steal"))
	src := ucoauth.NewTokenSource(cfg, store, "m", ucoauth.WithHTTPClient(client))
	defer src.Close()
	_, err = src.Token()
	assert.ErrorIs(t, err, ucoauth.ErrRedirect)
	stored, err := store.Load(ctx, "m")
	require.NoError(t, err)
	assert.Equal(t, old.RefreshToken, stored.RefreshToken, "nothing saved")
	assert.Equal(t, old.AccessToken, stored.AccessToken, "nothing saved")

	tok2 := uc.Issue("M")
	uc.FailNext(1, ucoauthtest.Redirect("/oauth/revoke", http.StatusFound, th.URL+"/steal"))
	err = ucoauth.Revoke(ctx, cfg, tok2.AccessToken, ucoauth.WithHTTPClient(client))
	assert.ErrorIs(t, err, ucoauth.ErrRedirect, "the thief's {\"successful\":true} is not believed")
	require.Positive(t, hits.Load(), "the test's Transport did follow")
}

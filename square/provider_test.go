package square_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/square/squaretest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

var withSquare = ucoauth.WithProvider(square.Provider{})

// expiredIn saves a copy of tok that has expired into a new memory store,
// so that the engine's first Token refreshes it.
func expiredIn(t *testing.T, key string, tok *oauth2.Token) *tokenstore.Memory {
	t.Helper()
	st := tokenstore.NewMemory()
	old := *tok
	old.Expiry = time.Now().Add(-time.Minute)
	require.NoError(t, st.Save(context.Background(), key, &old))
	return st
}

func source(t *testing.T, cfg *oauth2.Config, st ucoauth.TokenStore, key string) *ucoauth.TokenSource {
	t.Helper()
	ts := ucoauth.NewTokenSource(cfg, st, key, withSquare)
	t.Cleanup(func() { _ = ts.Close() })
	return ts
}

func TestProviderCodeFlowThroughTheEngine(t *testing.T) {
	sq := newFake(t)
	ctx := context.Background()
	cfg := sq.Config("MERCHANT_PROFILE_READ")
	code, err := sq.Authorize(ctx, cfg, "st", "M-ENGINE")
	require.NoError(t, err)
	tok, err := ucoauth.Exchange(ctx, cfg, code, withSquare)
	require.NoError(t, err)
	// The provider's RefreshPolicy: the 30-day lifetime is kept (not cut
	// to ucoauth.MaxLifetime), and so is the merchant's ID.
	assert.True(t, tok.Expiry.After(time.Now().Add(square.AccessTokenLifetime-time.Hour)), "expires_at was kept: %v", tok.Expiry)
	assert.False(t, tok.Expiry.After(time.Now().Add(square.AccessTokenLifetime)))
	assert.Equal(t, "M-ENGINE", tok.Extra(square.ExtraMerchantID), "merchant_id reaches the caller of ucoauth.Exchange")
	assert.Equal(t, "false", tok.Extra(square.ExtraShortLived))

	ts := source(t, cfg, expiredIn(t, "m", tok), "m")
	fresh, err := ts.TokenContext(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, tok.AccessToken, fresh.AccessToken)
	assert.Equal(t, tok.RefreshToken, fresh.RefreshToken, "the code flow keeps its refresh token")
	assert.Equal(t, "M-ENGINE", fresh.Extra(square.ExtraMerchantID), "and the refresh its merchant")
	assert.Equal(t, 1, sq.Stats().Refreshes())

	res, err := ucoauth.NewClient(ctx, ts).Get(sq.URL + "/v2/merchants/me")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, square.DefaultVersion, sq.Stats().LastVersion, "the Transport adds Square-Version")
}

func TestProviderPKCERotationThroughTheEngine(t *testing.T) {
	sq := newFake(t)
	ctx := context.Background()
	cfg := sq.PKCEConfig()
	tok := sq.IssuePKCE("M-PKCE")
	st := expiredIn(t, "m", tok)
	ts := source(t, cfg, st, "m")
	first, err := ts.TokenContext(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, tok.RefreshToken, first.RefreshToken, "PKCE rotates")
	saved, err := st.Load(ctx, "m")
	require.NoError(t, err)
	assert.Equal(t, first.RefreshToken, saved.RefreshToken, "the new refresh token is saved")
	assert.Equal(t, "M-PKCE", saved.Extra(square.ExtraMerchantID))
	assert.IsType(t, "", saved.Extra(square.ExtraRefreshTokenExpiresAt), "kept as RFC 3339 text")
	exp := square.RefreshTokenExpiry(saved)
	assert.True(t, exp.After(time.Now().Add(square.PKCERefreshTokenLifetime-time.Hour)), "the PKCE refresh token's expiry is kept: %v", exp)
	assert.Equal(t, "M-PKCE", square.MerchantID(saved))

	ts2 := source(t, cfg, expiredIn(t, "m2", first), "m2")
	second, err := ts2.TokenContext(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, first.RefreshToken, second.RefreshToken)
	assert.Zero(t, sq.Stats().InvalidGrant, "no spent refresh token was presented")
}

func TestProviderErrorsReachTheEngineClasses(t *testing.T) {
	sq := newFake(t)
	ctx := context.Background()
	tok := sq.Issue("M1")
	refresh := func(cfg *oauth2.Config, rt string) error {
		ts := source(t, cfg, expiredIn(t, "k", &oauth2.Token{AccessToken: "EAAAold", RefreshToken: rt}), "k")
		_, err := ts.TokenContext(ctx)
		return err
	}

	sq.FailNext(1, squaretest.RateLimited(30*time.Second))
	_, err := ucoauth.Exchange(ctx, sq.Config(), "any-code", withSquare)
	var e *ucoauth.Error
	require.ErrorAs(t, err, &e)
	assert.True(t, e.Temporary())
	assert.Equal(t, 30*time.Second, e.RetryAfter)
	assert.Equal(t, "RATE_LIMITED", e.ErrorCode)

	assert.ErrorIs(t, refresh(sq.Config(), "EQAAnever-issued"), ucoauth.ErrReauthorizationRequired)
	wrong := sq.Config()
	wrong.ClientSecret = "sq0csp-wrong-secret-value"
	err = refresh(wrong, tok.RefreshToken)
	assert.ErrorIs(t, err, ucoauth.ErrInvalidClient)
	assert.NotErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	if err != nil {
		assert.NotContains(t, err.Error(), "wrong-secret-value")
	}
}

func TestProviderRevokesWithClientHeader(t *testing.T) {
	sq := newFake(t)
	ctx := context.Background()
	tok, other := sq.Issue("M1"), sq.Issue("M2")
	require.NoError(t, ucoauth.Revoke(ctx, sq.Config(), tok.AccessToken, withSquare))
	c := square.NewClient(sq.Config())
	_, err := c.Refresh(ctx, tok.RefreshToken)
	assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired, "merchant-wide: the refresh token died too")
	_, err = c.Refresh(ctx, other.RefreshToken)
	assert.NoError(t, err)

	echo := "Client " + sq.ClientSecret
	sq.FailNext(1, squaretest.Failure{Path: "/oauth2/revoke", Status: 401,
		Body: squaretest.ErrorBody("AUTHENTICATION_ERROR", "UNAUTHORIZED", "bad header "+echo)})
	err = ucoauth.Revoke(ctx, sq.Config(), other.AccessToken, withSquare)
	require.ErrorIs(t, err, ucoauth.ErrInvalidClient)
	assert.NotContains(t, err.Error(), sq.ClientSecret, "the Authorization: Client value is scrubbed")
	assert.False(t, strings.Contains(err.Error(), squaretest.DefaultClientSecret))
}

func TestProviderTokenSourceRevokeLeavesTombstone(t *testing.T) {
	sq := newFake(t)
	ctx := context.Background()
	tok := sq.IssuePKCE("M1")
	st := tokenstore.NewMemory()
	require.NoError(t, st.Save(ctx, "m", tok))
	ts := source(t, sq.Config(), st, "m")
	require.NoError(t, ts.Revoke(ctx), "the refresh token's revoke is unsupported, and that is done")
	_, err := ts.TokenContext(ctx)
	assert.True(t, errors.Is(err, ucoauth.ErrRevoked) || errors.Is(err, ucoauth.ErrReauthorizationRequired), "%v", err)
	assert.Equal(t, 1, sq.Stats().Revoke)
}

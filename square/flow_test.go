package square_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/square/squaretest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

func newFake(t *testing.T) *squaretest.Server {
	t.Helper()
	sq := squaretest.NewServer()
	t.Cleanup(sq.Close)
	return sq
}

// fakeClock is a settable clock for the fake's expiries.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func TestCodeFlowRefreshTokenIsReusable(t *testing.T) {
	sq := newFake(t)
	ctx := context.Background()
	cfg := sq.Config("MERCHANT_PROFILE_READ", "PAYMENTS_READ")
	code, err := sq.Authorize(ctx, cfg, "st", "M-CODE", square.SessionFalse)
	require.NoError(t, err)
	c := square.NewClient(cfg)
	a, err := c.Exchange(ctx, code, "")
	require.NoError(t, err)
	assert.Equal(t, "M-CODE", a.MerchantID)
	assert.True(t, a.RefreshTokenExpiresAt.IsZero(), "code-flow refresh tokens do not expire")
	assert.WithinDuration(t, time.Now().Add(square.AccessTokenLifetime), a.Token.Expiry, time.Minute)
	assert.Equal(t, square.DefaultVersion, sq.Stats().LastVersion)

	_, err = c.Exchange(ctx, code, "")
	assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired, "a code is single use")

	rt := a.Token.RefreshToken
	for i := range 3 {
		b, err := c.Refresh(ctx, rt)
		require.NoError(t, err, "refresh %d", i)
		assert.Equal(t, rt, b.Token.RefreshToken, "the code flow answers the same refresh token")
		assert.NotEqual(t, a.Token.AccessToken, b.Token.AccessToken)
	}
	assert.Equal(t, 3, sq.Stats().Refreshes())
	assert.Equal(t, 1, sq.Stats().InvalidGrant, "only the reused code was refused")
}

func TestPKCERefreshTokenIsSingleUse(t *testing.T) {
	sq := newFake(t)
	ctx := context.Background()
	clock := &fakeClock{now: time.Now()}
	sq.SetClock(clock.Now)
	cfg := sq.PKCEConfig("MERCHANT_PROFILE_READ")
	verifier := oauth2.GenerateVerifier()
	code, err := sq.Authorize(ctx, cfg, "st", "M-PKCE", oauth2.S256ChallengeOption(verifier))
	require.NoError(t, err)
	c := square.NewClient(cfg)
	c.Now = clock.Now

	_, err = c.Exchange(ctx, code, "wrong-verifier")
	require.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	code, err = sq.Authorize(ctx, cfg, "st", "M-PKCE", oauth2.S256ChallengeOption(verifier))
	require.NoError(t, err)
	a, err := c.Exchange(ctx, code, verifier)
	require.NoError(t, err)
	assert.Equal(t, clock.now.Add(square.PKCERefreshTokenLifetime).Truncate(time.Second).UTC(), a.RefreshTokenExpiresAt)

	b, err := c.Refresh(ctx, a.Token.RefreshToken)
	require.NoError(t, err)
	assert.NotEqual(t, a.Token.RefreshToken, b.Token.RefreshToken, "PKCE answers a new refresh token")
	_, err = c.Refresh(ctx, a.Token.RefreshToken)
	var se *square.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, square.Reconnect, se.Class, "a spent PKCE refresh token is dead")
	assert.Equal(t, 1, sq.Stats().Reused)

	clock.now = clock.now.Add(square.PKCERefreshTokenLifetime)
	_, err = c.Refresh(ctx, b.Token.RefreshToken)
	assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired, "a PKCE refresh token dies after 90 days")
}

func TestShortLivedAndNarrowedScopes(t *testing.T) {
	sq := newFake(t)
	ctx := context.Background()
	tok := sq.Issue("M1", "A", "B")
	c := square.NewClient(sq.Config())
	c.Version = "2024-01-18"
	a, err := c.Token(ctx, square.TokenRequest{ClientID: sq.ClientID, ClientSecret: sq.ClientSecret,
		GrantType: square.GrantRefreshToken, RefreshToken: tok.RefreshToken, Scopes: []string{"A"}, ShortLived: true})
	require.NoError(t, err)
	assert.True(t, a.ShortLived)
	assert.WithinDuration(t, time.Now().Add(square.ShortLivedLifetime), a.Token.Expiry, time.Minute)
	assert.Equal(t, "2024-01-18", sq.Stats().LastVersion, "the user's Square-Version is sent")
	st, err := c.Status(ctx, a.Token.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, []string{"A"}, st.Scopes)

	_, err = c.Token(ctx, square.TokenRequest{ClientID: sq.ClientID, ClientSecret: sq.ClientSecret,
		GrantType: square.GrantRefreshToken, RefreshToken: tok.RefreshToken, Scopes: []string{"C"}})
	assert.ErrorIs(t, err, ucoauth.ErrInvalidClient, "asking for a scope never granted is the application's bug")
}

func TestTokenStatus(t *testing.T) {
	sq := newFake(t)
	ctx := context.Background()
	clock := &fakeClock{now: time.Now()}
	sq.SetClock(clock.Now)
	tok := sq.Issue("M-STATUS", "MERCHANT_PROFILE_READ", "ORDERS_READ")
	c := square.NewClient(sq.Config())
	st, err := c.Status(ctx, tok.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, &square.TokenStatus{Scopes: []string{"MERCHANT_PROFILE_READ", "ORDERS_READ"},
		ExpiresAt: tok.Expiry, ClientID: sq.ClientID, MerchantID: "M-STATUS"}, st)
	assert.Zero(t, sq.Stats().Refreshes(), "a status check costs no refresh")

	clock.now = tok.Expiry.Add(time.Second) // the answer's expires_at is in whole seconds
	_, err = c.Status(ctx, tok.AccessToken)
	var se *square.Error
	require.ErrorAs(t, err, &se)
	assert.True(t, se.HasCode("ACCESS_TOKEN_EXPIRED"))
	assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
}

func TestRefreshAnswerWithoutRefreshTokenKeepsTheSentOne(t *testing.T) {
	sq := newFake(t)
	sq.FailNext(1, squaretest.Failure{Status: 200,
		Body: `{"access_token":"EAAAnew","token_type":"bearer","expires_at":"2030-01-01T00:00:00Z","merchant_id":"M"}`})
	a, err := square.NewClient(sq.Config()).Refresh(context.Background(), "EQAAkept")
	require.NoError(t, err)
	assert.Equal(t, "EQAAkept", a.Token.RefreshToken)
}

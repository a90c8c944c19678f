package square_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

func refreshes(c *square.Client, tok *oauth2.Token) error {
	_, err := c.Refresh(context.Background(), tok.RefreshToken)
	return err
}

func TestRevokeByTokenRevokesTheWholeMerchant(t *testing.T) {
	sq := newFake(t)
	ctx := context.Background()
	c := square.NewClient(sq.Config())
	first, second, other := sq.Issue("M1"), sq.Issue("M1"), sq.Issue("M2")
	require.NoError(t, c.Revoke(ctx, square.RevokeRequest{AccessToken: first.AccessToken}))
	for _, tok := range []*oauth2.Token{first, second} {
		_, err := c.Status(ctx, tok.AccessToken)
		assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
		assert.ErrorIs(t, refreshes(c, tok), ucoauth.ErrReauthorizationRequired)
	}
	_, err := c.Status(ctx, other.AccessToken)
	assert.NoError(t, err, "another merchant keeps its tokens")
	assert.NoError(t, refreshes(c, other))
}

func TestRevokeByMerchantNeedsNoToken(t *testing.T) {
	sq := newFake(t)
	ctx := context.Background()
	c := square.NewClient(sq.Config())
	tok := sq.Issue("M-LOST")
	require.NoError(t, c.RevokeMerchant(ctx, "M-LOST"))
	assert.ErrorIs(t, refreshes(c, tok), ucoauth.ErrReauthorizationRequired)
	assert.Equal(t, 1, sq.Stats().Revoke)
}

func TestRevokeOnlyAccessTokenKeepsTheRefreshToken(t *testing.T) {
	sq := newFake(t)
	ctx := context.Background()
	c := square.NewClient(sq.Config())
	tok := sq.Issue("M1")
	require.NoError(t, c.Revoke(ctx, square.RevokeRequest{AccessToken: tok.AccessToken, OnlyAccessToken: true}))
	_, err := c.Status(ctx, tok.AccessToken)
	assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	assert.NoError(t, refreshes(c, tok))
}

func TestRevokeWithWrongSecretIsMisconfigured(t *testing.T) {
	sq := newFake(t)
	cfg := sq.Config()
	cfg.ClientSecret = "sq0csp-WRONG-secret-value"
	tok := sq.Issue("M1")
	err := square.NewClient(cfg).Revoke(context.Background(), square.RevokeRequest{AccessToken: tok.AccessToken})
	require.ErrorIs(t, err, ucoauth.ErrInvalidClient)
	assert.NotContains(t, err.Error(), "WRONG-secret")
	assert.NoError(t, refreshes(square.NewClient(sq.Config()), tok), "nothing was revoked")
}

func TestRevokeNeedsExactlyOneTarget(t *testing.T) {
	sq := newFake(t)
	c := square.NewClient(sq.Config())
	ctx := context.Background()
	assert.ErrorIs(t, c.Revoke(ctx, square.RevokeRequest{}), square.ErrRevokeTarget)
	assert.ErrorIs(t, c.Revoke(ctx, square.RevokeRequest{AccessToken: "a", MerchantID: "m"}), square.ErrRevokeTarget)
	assert.Zero(t, sq.Stats().Revoke, "refused before sending")
}

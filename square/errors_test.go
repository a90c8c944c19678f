package square_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/square/squaretest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

func TestDecodeErrorClasses(t *testing.T) {
	body := squaretest.ErrorBody
	for _, c := range []struct {
		name   string
		op     string
		status int
		body   string
		want   square.Class
	}{
		{"429 rate limit", "token", 429, body("RATE_LIMIT_ERROR", "RATE_LIMITED", "slow down"), square.Temporary},
		{"429 without body", "token", 429, ``, square.Temporary},
		{"rate limit code on a 400", "token", 400, body("RATE_LIMIT_ERROR", "RATE_LIMITED", ""), square.Temporary},
		{"500", "token", 500, body("API_ERROR", "INTERNAL_SERVER_ERROR", ""), square.Temporary},
		{"503 html", "token", 503, `<html>down</html>`, square.Temporary},
		{"504", "revoke", 504, ``, square.Temporary},
		{"no answer", "token", 0, ``, square.Temporary},
		{"bad refresh token", "token", 401, body("AUTHENTICATION_ERROR", "UNAUTHORIZED", "Invalid refresh token"), square.Reconnect},
		{"revoked token", "status", 401, body("AUTHENTICATION_ERROR", "ACCESS_TOKEN_REVOKED", ""), square.Reconnect},
		{"expired token", "token", 401, body("AUTHENTICATION_ERROR", "ACCESS_TOKEN_EXPIRED", ""), square.Reconnect},
		{"insufficient scopes", "status", 403, body("INVALID_REQUEST_ERROR", "INSUFFICIENT_SCOPES", ""), square.Reconnect},
		{"status 401 bare", "status", 401, ``, square.Reconnect},
		{"wrong client secret", "token", 401, body("AUTHENTICATION_ERROR", "UNAUTHORIZED", "Invalid client_secret"), square.Misconfigured},
		{"legacy not authorized about the application", "token", 401, `{"message":"Not Authorized for this application","type":"service.not_authorized"}`, square.Misconfigured},
		{"client disabled", "token", 401, body("AUTHENTICATION_ERROR", "CLIENT_DISABLED", ""), square.Misconfigured},
		{"revoke 401 is the Client header", "revoke", 401, body("AUTHENTICATION_ERROR", "UNAUTHORIZED", "Not Authorized"), square.Misconfigured},
		{"bad request", "token", 400, body("INVALID_REQUEST_ERROR", "MISSING_REQUIRED_PARAMETER", "Missing client_id"), square.Misconfigured},
		{"404", "revoke", 404, body("INVALID_REQUEST_ERROR", "NOT_FOUND", ""), square.Misconfigured},
	} {
		e := square.DecodeError(c.op, c.status, nil, []byte(c.body))
		assert.Equal(t, c.want, e.Class, c.name)
		assert.Equal(t, c.want == square.Reconnect, e.Is(ucoauth.ErrReauthorizationRequired), c.name)
		assert.Equal(t, c.want == square.Misconfigured, e.Is(ucoauth.ErrInvalidClient), c.name)
		assert.Equal(t, c.want == square.Temporary, e.Temporary(), c.name)
	}
}

func TestDecodeErrorKeepsSquaresErrorsAndLegacyBodies(t *testing.T) {
	e := square.DecodeError("token", 400, nil, []byte(`{"errors":[{"category":"INVALID_REQUEST_ERROR","code":"INVALID_VALUE","detail":"bad","field":"scopes"},{"category":"INVALID_REQUEST_ERROR","code":"INVALID_SCOPE"}]}`))
	require.Len(t, e.Errors, 2)
	assert.Equal(t, square.APIError{Category: "INVALID_REQUEST_ERROR", Code: "INVALID_VALUE", Detail: "bad", Field: "scopes"}, e.Errors[0])
	assert.True(t, e.HasCode("INVALID_SCOPE"))
	assert.Contains(t, e.Error(), "INVALID_REQUEST_ERROR/INVALID_VALUE")

	e = square.DecodeError("token", 401, nil, []byte(`{"message":"Not Authorized","type":"service.not_authorized"}`))
	assert.Equal(t, []square.APIError{{Code: "service.not_authorized", Detail: "Not Authorized"}}, e.Errors)

	many := `{"errors":[` + strings.Repeat(`{"code":"X"},`, 100) + `{"code":"X"}]}`
	assert.Len(t, square.DecodeError("token", 400, nil, []byte(many)).Errors, 16, "a hostile list is bounded")
}

func TestRetryAfterAgainstTheFake(t *testing.T) {
	sq := newFake(t)
	c := square.NewClient(sq.Config())
	tok := sq.Issue("M1")
	ctx := context.Background()

	sq.FailNext(1, squaretest.RateLimited(30*time.Second))
	_, err := c.Refresh(ctx, tok.RefreshToken)
	var se *square.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, square.Temporary, se.Class)
	assert.Equal(t, 429, se.StatusCode)
	assert.Equal(t, 30*time.Second, se.RetryAfter)
	assert.Contains(t, se.Error(), "retry after 30s")

	sq.FailNext(1, squaretest.RateLimited(0))
	_, err = c.Refresh(ctx, tok.RefreshToken)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, square.Temporary, se.Class)
	assert.Zero(t, se.RetryAfter, "no header: the engine's own backoff applies")

	date := squaretest.Failure{Status: 503, Header: http.Header{"Retry-After": {time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}}}
	sq.FailNext(1, date)
	_, err = c.Refresh(ctx, tok.RefreshToken)
	require.ErrorAs(t, err, &se)
	assert.InDelta(t, time.Hour.Seconds(), se.RetryAfter.Seconds(), 5, "an HTTP-date Retry-After")

	sq.FailNext(1, squaretest.Failure{Status: 429, Header: http.Header{"Retry-After": {"99999999"}}})
	_, err = c.Refresh(ctx, tok.RefreshToken)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 24*time.Hour, se.RetryAfter, "bounded to a day")

	sq.FailNext(1, squaretest.Unavailable())
	_, err = c.Refresh(ctx, tok.RefreshToken)
	require.ErrorAs(t, err, &se)
	assert.True(t, se.HasCode("SERVICE_UNAVAILABLE"))

	_, err = c.Refresh(ctx, tok.RefreshToken)
	assert.NoError(t, err, "the failures ran out; the reusable refresh token still works")
	assert.Equal(t, 5, sq.Stats().Injected)
}

func TestClassesAgainstTheFake(t *testing.T) {
	sq := newFake(t)
	ctx := context.Background()
	tok := sq.Issue("M1")

	wrong := sq.Config()
	wrong.ClientSecret = "sq0csp-not-the-secret"
	_, err := square.NewClient(wrong).Refresh(ctx, tok.RefreshToken)
	assert.ErrorIs(t, err, ucoauth.ErrInvalidClient, "a wrong secret is the application's, not the merchant's")

	_, err = square.NewClient(sq.Config()).Refresh(ctx, "EQAAnever-issued")
	assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)

	sq.FailNext(1, squaretest.Failure{Status: 302, Header: http.Header{"Location": {"https://evil.example/"}}})
	_, err = square.NewClient(sq.Config()).Refresh(ctx, tok.RefreshToken)
	assert.ErrorIs(t, err, ucoauth.ErrRedirect, "a redirect is never followed")

	sq.FailNext(1, squaretest.Failure{Status: 200, Body: `{"access_token":42}`})
	_, err = square.NewClient(sq.Config()).Refresh(ctx, tok.RefreshToken)
	var se *square.Error
	require.ErrorAs(t, err, &se)
	assert.ErrorIs(t, err, square.ErrBadAnswer)
	assert.Equal(t, square.Temporary, se.Class, "a garbled answer may be a proxy's: retry")

	closed := squaretest.NewServer()
	cfg := closed.Config()
	closed.Close()
	_, err = square.NewClient(cfg).Refresh(ctx, tok.RefreshToken)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, square.Temporary, se.Class, "no answer at all")
	assert.Zero(t, se.StatusCode)

	insecure := sq.Config()
	insecure.Endpoint = square.EndpointAt("http://connect.squareup.com")
	_, err = square.NewClient(insecure).Refresh(ctx, tok.RefreshToken)
	assert.ErrorIs(t, err, ucoauth.ErrInsecureEndpoint)
}

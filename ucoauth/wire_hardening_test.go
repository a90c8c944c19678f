package ucoauth_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ucoauth/go-ucoauth/internal/ultracart"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// A sub-second expires_in must not make a TokenSource refresh on every call.
func TestSubSecondLifetimeNoRefreshLoop(t *testing.T) {
	for _, v := range []string{`"0.001"`, `"1e-300"`, `0.0001`} {
		t.Run(v, func(t *testing.T) {
			uc := ucoauthtest.NewServer()
			defer uc.Close()
			uc.SetExpiresIn(v)
			store := tokenstore.NewMemory()
			old := uc.Issue("M")
			old.Expiry = time.Now().Add(-time.Minute)
			require.NoError(t, store.Save(t.Context(), "m", old))
			src := ucoauth.NewTokenSource(uc.Config(), store, "m")
			start := time.Now()
			for range 100 {
				tok, err := src.Token()
				require.NoError(t, err)
				require.NotNil(t, tok)
				time.Sleep(2 * time.Millisecond)
			}
			elapsed := time.Since(start)
			// One refresh per second at most: MinLifetime 2 s, early window 1 s.
			limit := 2 + int(elapsed/time.Second)
			assert.LessOrEqual(t, uc.Stats().Refreshes(), limit, "%d refreshes in %v", uc.Stats().Refreshes(), elapsed)
			tok, err := src.Token()
			require.NoError(t, err)
			assert.Equal(t, int64(ucoauth.MinLifetime/time.Second), tok.ExpiresIn)
		})
	}
}

func TestRetryAfterIsCapped(t *testing.T) {
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	soon := time.Now().Add(10 * time.Minute).UTC().Format(http.TimeFormat)
	cases := []struct {
		header   string
		min, max time.Duration
	}{
		{"7", 7 * time.Second, 7 * time.Second},
		{"3600", time.Hour, time.Hour},
		{"3601", ucoauth.MaxRetryAfter, ucoauth.MaxRetryAfter},
		{"9223372036", ucoauth.MaxRetryAfter, ucoauth.MaxRetryAfter},
		{"99999999999", ucoauth.MaxRetryAfter, ucoauth.MaxRetryAfter},
		{"999999999999999999999999", ucoauth.MaxRetryAfter, ucoauth.MaxRetryAfter},
		{"Fri, 31 Dec 9999 23:59:59 GMT", ucoauth.MaxRetryAfter, ucoauth.MaxRetryAfter},
		{soon, 9 * time.Minute, 10 * time.Minute},
		{past, 0, 0},
		{"-5", 0, 0},
		{"1.5", 0, 0},
		{"soon", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.header, func(t *testing.T) {
			rs := newRaw(t, 429, `{}`, "Retry-After", tc.header)
			_, err := ucoauth.Exchange(t.Context(), rs.config(""), "c")
			var e *ucoauth.Error
			require.ErrorAs(t, err, &e)
			assert.GreaterOrEqual(t, e.RetryAfter, tc.min)
			assert.LessOrEqual(t, e.RetryAfter, tc.max)
		})
	}
}

// A far-future Retry-After must park the source (capped), never overflow
// into a next try in the past that lets every call hit the server.
func TestHugeRetryAfterStillBacksOff(t *testing.T) {
	for _, h := range []string{"9223372036", "99999999999", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		t.Run(h, func(t *testing.T) {
			uc := ucoauthtest.NewServer()
			defer uc.Close()
			store := tokenstore.NewMemory()
			old := uc.Issue("M")
			old.Expiry = time.Now().Add(-time.Minute)
			require.NoError(t, store.Save(t.Context(), "m", old))
			uc.FailNext(-1, ucoauthtest.Failure{Status: 429, Body: `{}`, Header: http.Header{"Retry-After": {h}}})
			src := ucoauth.NewTokenSource(uc.Config(), store, "m")
			for range 5 {
				_, err := src.Token()
				require.Error(t, err)
			}
			assert.Equal(t, 1, uc.Stats().Refreshes(), "one request, then backoff")
		})
	}
}

func TestBlankRefreshTokenIsAbsent(t *testing.T) {
	for _, blank := range []string{`""`, `"   "`, `"\t\r\n"`, `null`} {
		t.Run(blank, func(t *testing.T) {
			uc := ucoauthtest.NewServer()
			defer uc.Close()
			store := tokenstore.NewMemory()
			old := uc.Issue("M")
			old.Expiry = time.Now().Add(-time.Minute)
			require.NoError(t, store.Save(t.Context(), "m", old))
			uc.FailNext(1, ucoauthtest.Failure{Status: 200,
				Body: `{"access_token":"at-new-1","token_type":"bearer","expires_in":"3600","refresh_token":` + blank + `}`})
			src := ucoauth.NewTokenSource(uc.Config(), store, "m")
			tok, err := src.Token()
			require.NoError(t, err)
			assert.Equal(t, "at-new-1", tok.AccessToken)
			assert.Equal(t, old.RefreshToken, tok.RefreshToken, "the old refresh token lives on")
			stored, err := store.Load(t.Context(), "m")
			require.NoError(t, err)
			assert.Equal(t, old.RefreshToken, stored.RefreshToken, "the stored refresh token is not replaced")
		})
	}
}

func TestBadTokenTypeNeverServed(t *testing.T) {
	for _, tt := range []string{"bearer\r\nX-Evil: 1", "be arer", "bearer\x00", "bé"} {
		t.Run(tt, func(t *testing.T) {
			body, _ := json.Marshal(map[string]string{"access_token": "at-1", "token_type": tt, "refresh_token": "rt-new-1", "expires_in": "3600"})
			rs := newRaw(t, 200, string(body))
			var logs strings.Builder
			ctx := t.Context()
			tok, err := ucoauth.Exchange(ctx, rs.config(""), "c", ucoauth.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			require.NoError(t, err)
			assert.Equal(t, "bearer", tok.TokenType, "normalised: UltraCart's only documented value")
			assert.Equal(t, "rt-new-1", tok.RefreshToken, "the refresh token is kept")
			assert.Contains(t, logs.String(), strings.TrimPrefix(ucoauth.ErrBadTokenType.Error(), "ucoauth: "))
			assert.NotContains(t, logs.String(), "X-Evil")
		})
	}
}

func TestKeysMatchExactly(t *testing.T) {
	cases := []struct {
		name, body, want, wantErr string
	}{
		{"upper case after", `{"access_token":"good-1","ACCESS_TOKEN":"evil-1","expires_in":"3600"}`, "good-1", ""},
		{"upper case before", `{"ACCESS_TOKEN":"evil-1","access_token":"good-1","expires_in":"3600"}`, "good-1", ""},
		{"mixed case only", `{"Access_Token":"evil-1","expires_in":"3600"}`, "", "no access_token"},
		{"refresh token case", `{"access_token":"good-1","REFRESH_TOKEN":"evil-rt"}`, "good-1", ""},
		{"identical duplicate", `{"access_token":"good-1","access_token":"good-1"}`, "good-1", ""},
		{"conflicting duplicate", `{"access_token":"good-1","refresh_token":"rt-a","refresh_token":"rt-b"}`, "", `conflicting duplicate "refresh_token"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := newRaw(t, 200, tc.body)
			tok, err := ucoauth.Exchange(t.Context(), rs.config(""), "c")
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Nil(t, tok)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.NotContains(t, err.Error(), "rt-a")
				assert.NotContains(t, err.Error(), "rt-b")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, tok.AccessToken)
			assert.NotEqual(t, "evil-rt", tok.RefreshToken)
		})
	}
}

// A server whose refresh token reads like an OAuth error code cannot hide
// the code from the library's decisions.
func TestKnownCodesSurviveRedaction(t *testing.T) {
	rs := newRaw(t, 400, `{"error":"invalid_grant","refresh_token":"invalid_grant","error_code":"invalid_grant"}`)
	_, err := ucoauth.Exchange(t.Context(), rs.config(""), "invalid_grant")
	assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
}

// A server's code or error_code cannot break a log line: each is printed as
// it is when it is one plain word, quoted otherwise (so is the merchant ID,
// though a header cannot carry CR or LF).
func TestServerCodesCannotForgeLogLines(t *testing.T) {
	const forged = "x\nlevel=INFO msg=\"all good\""
	body, _ := json.Marshal(map[string]any{"error": forged})
	envelope, _ := json.Marshal(map[string]any{"error": map[string]string{"error_code": forged, "developer_message": "m"}})
	for name, rs := range map[string]*rawServer{
		"error":      newRaw(t, 400, string(body)),
		"error_code": newRaw(t, 400, string(envelope)),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ucoauth.Exchange(t.Context(), rs.config(""), "code-1")
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "\n")
			assert.NotContains(t, err.Error(), "\r")
			assert.Contains(t, err.Error(), "level=INFO", "still said, quoted")
		})
	}
	rs := newRaw(t, 400, `{"error":"invalid_grant","error":"invalid_grant"}`, ultracart.HeaderRESTErrorMerchantID, "DEMO")
	_, err := ucoauth.Exchange(t.Context(), rs.config(""), "code-1")
	assert.Contains(t, err.Error(), ": invalid_grant")
	assert.Contains(t, err.Error(), "(merchant DEMO)", "a plain word stays unquoted")
}

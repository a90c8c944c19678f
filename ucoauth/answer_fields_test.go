package ucoauth_test

// The fields of a token answer are read exactly: keys match by case, and a
// blank or non-string value is absent, never served as a token.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
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

// TestNonStringRefreshTokenKeepsStoredOne: "refresh_token": false (or a
// number) is no token: the stored refresh token is kept, so the next
// refresh sends the real one, and the anomaly is reported as
// ErrBadTokenField.
func TestNonStringRefreshTokenKeepsStoredOne(t *testing.T) {
	for _, v := range []string{"false", "true", "0", "12345678"} {
		t.Run(v, func(t *testing.T) {
			var sent atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				sent.Store(r.PostForm.Get("refresh_token"))
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"access_token":"AT-1-xxxxxxxx","refresh_token":`+v+`,"token_type":"bearer","expires_in":3600}`)
			}))
			defer srv.Close()
			cfg := &oauth2.Config{ClientID: "cid", Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
			store := tokenstore.NewMemory()
			require.NoError(t, store.Save(context.Background(), "m", &oauth2.Token{AccessToken: "AT-0-xxxxxxxx",
				RefreshToken: "RT-0-the-real-one", TokenType: "bearer", Expiry: time.Now().Add(-time.Minute)}))
			events := make(chan ucoauth.RefreshEvent, 4)
			src := ucoauth.NewTokenSource(cfg, store, "m", ucoauth.WithRefreshHook(func(e ucoauth.RefreshEvent) { events <- e }))
			defer src.Close()
			tok, err := src.Token()
			require.NoError(t, err)
			assert.Equal(t, "AT-1-xxxxxxxx", tok.AccessToken)
			assert.Equal(t, "RT-0-the-real-one", sent.Load())
			assert.Equal(t, "RT-0-the-real-one", tok.RefreshToken)
			got, err := store.Load(context.Background(), "m")
			require.NoError(t, err)
			assert.Equal(t, "RT-0-the-real-one", got.RefreshToken, "the stored refresh token was overwritten by the JSON "+v)
			select {
			case ev := <-events:
				assert.ErrorIs(t, ev.Err, ucoauth.ErrBadTokenField, "the anomaly is reported")
			case <-time.After(10 * time.Second):
				t.Fatal("no refresh event")
			}
		})
	}
}

// TestNonStringRefreshTokenFromExchangeIsAbsentAndLogged: Exchange returns
// the token without a refresh token and logs ErrBadTokenField.
func TestNonStringRefreshTokenFromExchangeIsAbsentAndLogged(t *testing.T) {
	rs := newRaw(t, 200, `{"access_token":"AT-1-xxxxxxxx","refresh_token":false,"token_type":"bearer","expires_in":3600}`,
		"Content-Type", "application/json")
	var logs bytes.Buffer
	ctx := t.Context()
	tok, err := ucoauth.Exchange(ctx, rs.config("client-secret-1"), "code-1", ucoauth.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	assert.Equal(t, "AT-1-xxxxxxxx", tok.AccessToken)
	assert.Empty(t, tok.RefreshToken, "false is no refresh token")
	assert.Contains(t, logs.String(), strings.TrimPrefix(ucoauth.ErrBadTokenField.Error(), "ucoauth: "))
}

// TestNonStringAccessTokenIsUnusable: an access_token that is a JSON number
// or boolean makes the answer unusable: an error, and nothing stored.
func TestNonStringAccessTokenIsUnusable(t *testing.T) {
	for _, v := range []string{"false", "true", "0", "12345678"} {
		t.Run(v, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"access_token":`+v+`,"refresh_token":"RT-1-rotated","token_type":"bearer","expires_in":3600}`)
			}))
			defer srv.Close()
			cfg := &oauth2.Config{ClientID: "cid", Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}

			tok, err := ucoauth.Exchange(t.Context(), cfg, "code-1")
			require.Error(t, err)
			assert.Nil(t, tok)
			assert.ErrorIs(t, err, ucoauth.ErrBadTokenField)

			store := tokenstore.NewMemory()
			old := &oauth2.Token{AccessToken: "AT-0-xxxxxxxx", RefreshToken: "RT-0-the-real-one", TokenType: "bearer",
				Expiry: time.Now().Add(-time.Minute)}
			require.NoError(t, store.Save(t.Context(), "m", old))
			src := ucoauth.NewTokenSource(cfg, store, "m")
			defer src.Close()
			_, err = src.Token()
			require.Error(t, err)
			got, err := store.Load(t.Context(), "m")
			require.NoError(t, err)
			assert.Equal(t, old.AccessToken, got.AccessToken, "nothing stored")
			assert.Equal(t, old.RefreshToken, got.RefreshToken, "nothing stored")
		})
	}
}

// TestNonStringTokenTypeAndScopeAreAbsent: token_type and scope that are not
// JSON strings are ignored; expires_in may be a number.
func TestNonStringTokenTypeAndScopeAreAbsent(t *testing.T) {
	rs := newRaw(t, 200, `{"access_token":"AT-1-xxxxxxxx","refresh_token":"RT-1-yyyy","token_type":true,"scope":12,"expires_in":3600}`,
		"Content-Type", "application/json")
	tok, err := ucoauth.Exchange(t.Context(), rs.config("client-secret-1"), "code-1")
	require.NoError(t, err)
	assert.Equal(t, "Bearer", tok.Type())
	assert.Nil(t, tok.Extra("scope"))
	assert.Equal(t, "RT-1-yyyy", tok.RefreshToken)
	assert.InDelta(t, 3600, time.Until(tok.Expiry).Seconds(), 30)
}

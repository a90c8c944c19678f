package ucoauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/internal/ultracart"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// serverSays is the text every failing answer below carries, in each of the
// places UltraCart puts it: the UC-REST-ERROR header, error_description, the
// ErrorResponse's developer_message and user_message, revoke's message.
const serverSays = "Merchant M1 is on vacation"

// errorTextCase is one error path: run returns the error, with the secrets
// it must not show.
type errorTextCase struct {
	name string
	run  func(t *testing.T) (err error, secrets []string)
}

// ucFailure answers with serverSays everywhere UltraCart would put it.
func ucFailure(status int, path string) ucoauthtest.Failure {
	return ucoauthtest.Failure{Status: status, Path: path,
		Header: http.Header{ultracart.HeaderRESTError: {serverSays}, "Content-Type": {"application/json"}},
		Body:   ucoauthtest.ErrorResponse(serverSays, "E1")}
}

// oauthFailure answers like UltraCart's token endpoint: RFC 6749 fields,
// the description in UC-REST-ERROR too.
func oauthFailure(status int, code string) ucoauthtest.Failure {
	return ucoauthtest.Failure{Status: status,
		Header: http.Header{ultracart.HeaderRESTError: {serverSays}, "Content-Type": {"application/json"}},
		Body:   fmt.Sprintf(`{"error":%q,"error_description":%q}`, code, serverSays)}
}

// refreshFailing makes a source over a stored, expired token whose refresh
// meets f, and returns the error of Token().
func refreshFailing(t *testing.T, f ucoauthtest.Failure) (error, []string) {
	uc := ucoauthtest.NewServer()
	t.Cleanup(uc.Close)
	cfg := uc.Config()
	tok := uc.Issue("M1")
	tok.Expiry = time.Now().Add(-time.Minute)
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(context.Background(), "M1", tok))
	uc.FailNext(-1, f)
	src := ucoauth.NewTokenSource(cfg, store, "M1", ucoauth.WithEarlyRefresh(0))
	t.Cleanup(func() { _ = src.Close() })
	_, err := src.Token()
	return err, []string{tok.AccessToken, tok.RefreshToken, cfg.ClientSecret}
}

// failStore is a store that fails what it is told to, with a cause in the
// library's own voice when asked.
type failStore struct {
	ucoauth.TokenStore
	load, save, del, lock error
}

func (s *failStore) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	if s.load != nil {
		return nil, s.load
	}
	return s.TokenStore.Load(ctx, key)
}

func (s *failStore) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	if s.save != nil {
		return s.save
	}
	return s.TokenStore.Save(ctx, key, tok)
}

func (s *failStore) Delete(ctx context.Context, key string) error {
	if s.del != nil {
		return s.del
	}
	return s.TokenStore.Delete(ctx, key)
}

func (s *failStore) Lock(ctx context.Context, key string) (func(), error) {
	if s.lock != nil {
		return nil, s.lock
	}
	return s.TokenStore.(ucoauth.Locker).Lock(ctx, key)
}

// TestErrorTextReadsOnce runs every kind of error path and checks that its
// message reads once, in one voice: one "ucoauth:" prefix at most, the
// server's message at most once, and no secret.
func TestErrorTextReadsOnce(t *testing.T) {
	ctx := context.Background()
	cases := []errorTextCase{
		{"exchange: invalid_grant", func(t *testing.T) (error, []string) {
			uc := ucoauthtest.NewServer()
			t.Cleanup(uc.Close)
			uc.FailNext(1, oauthFailure(400, "invalid_grant"))
			_, err := ucoauth.Exchange(ctx, uc.Config(), "code-from-the-browser")
			return err, []string{"code-from-the-browser", uc.Config().ClientSecret}
		}},
		{"exchange: the fake's own refusal", func(t *testing.T) (error, []string) {
			uc := ucoauthtest.NewServer()
			t.Cleanup(uc.Close)
			_, err := ucoauth.Exchange(ctx, uc.Config(), "code-nobody-issued")
			return err, []string{"code-nobody-issued", uc.Config().ClientSecret}
		}},
		{"refresh: invalid_grant", func(t *testing.T) (error, []string) { return refreshFailing(t, oauthFailure(400, "invalid_grant")) }},
		{"refresh: invalid_client", func(t *testing.T) (error, []string) { return refreshFailing(t, oauthFailure(401, "invalid_client")) }},
		{"refresh: 410 application disabled", func(t *testing.T) (error, []string) { return refreshFailing(t, ucFailure(410, "")) }},
		{"refresh: 503 with Retry-After", func(t *testing.T) (error, []string) {
			f := ucFailure(503, "")
			f.Header.Set("Retry-After", "1")
			return refreshFailing(t, f)
		}},
		{"refresh: 500 not JSON", func(t *testing.T) (error, []string) {
			return refreshFailing(t, ucoauthtest.Failure{Status: 500, Header: http.Header{ultracart.HeaderRESTError: {serverSays}}, Body: "<html>" + serverSays + "</html>"})
		}},
		{"refresh: redirect", func(t *testing.T) (error, []string) {
			return refreshFailing(t, ucoauthtest.Redirect("/oauth/token", 307, "https://elsewhere.example/"))
		}},
		{"refresh: error in a 200", func(t *testing.T) (error, []string) {
			return refreshFailing(t, ucoauthtest.Failure{Status: 200, Header: http.Header{ultracart.HeaderRESTError: {serverSays}}, Body: ucoauthtest.ErrorResponse(serverSays, "E1")})
		}},
		{"refresh: unreachable", func(t *testing.T) (error, []string) {
			uc := ucoauthtest.NewServer()
			cfg := uc.Config()
			tok := uc.Issue("M1")
			uc.Close()
			tok.Expiry = time.Now().Add(-time.Minute)
			store := tokenstore.NewMemory()
			require.NoError(t, store.Save(ctx, "M1", tok))
			src := ucoauth.NewTokenSource(cfg, store, "M1", ucoauth.WithEarlyRefresh(0))
			t.Cleanup(func() { _ = src.Close() })
			_, err := src.Token()
			return err, []string{tok.AccessToken, tok.RefreshToken, cfg.ClientSecret}
		}},
		{"device: refused", func(t *testing.T) (error, []string) {
			uc := ucoauthtest.NewServer()
			t.Cleanup(uc.Close)
			uc.FailNext(1, ucFailure(400, "/oauth/device/authorize"))
			_, err := ucoauth.DeviceAuth(ctx, uc.Config())
			return err, []string{uc.Config().ClientSecret}
		}},
		{"refresh: anomalies joined (expires_in, token_type, refresh_token)", func(t *testing.T) (error, []string) {
			uc := ucoauthtest.NewServer()
			t.Cleanup(uc.Close)
			tok := uc.Issue("M1")
			tok.Expiry = time.Now().Add(-time.Minute)
			store := tokenstore.NewMemory()
			require.NoError(t, store.Save(ctx, "M1", tok))
			uc.FailNext(1, ucoauthtest.Failure{Status: 200, Header: http.Header{"Content-Type": {"application/json"}},
				Body: `{"access_token":"at-anomalous-1234","expires_in":"soon","token_type":"be arer","refresh_token":5}`})
			events := make(chan ucoauth.RefreshEvent, 1)
			src := ucoauth.NewTokenSource(uc.Config(), store, "M1", ucoauth.WithEarlyRefresh(0),
				ucoauth.WithRefreshHook(func(ev ucoauth.RefreshEvent) { events <- ev }))
			t.Cleanup(func() { _ = src.Close() })
			got, err := src.Token()
			require.NoError(t, err, "the token is kept despite the anomalies")
			require.Equal(t, "at-anomalous-1234", got.AccessToken)
			ev := <-events
			return ev.Err, []string{"at-anomalous-1234", tok.AccessToken, tok.RefreshToken, uc.Config().ClientSecret}
		}},
		{"refresh: no refresh token", func(t *testing.T) (error, []string) {
			uc := ucoauthtest.NewServer()
			t.Cleanup(uc.Close)
			tok := uc.Issue("M1")
			tok.Expiry, tok.RefreshToken = time.Now().Add(-time.Minute), ""
			store := tokenstore.NewMemory()
			require.NoError(t, store.Save(ctx, "M1", tok))
			src := ucoauth.NewTokenSource(uc.Config(), store, "M1", ucoauth.WithEarlyRefresh(0))
			t.Cleanup(func() { _ = src.Close() })
			_, err := src.Token()
			return err, []string{tok.AccessToken}
		}},
		{"store: load fails", func(t *testing.T) (error, []string) {
			uc := ucoauthtest.NewServer()
			t.Cleanup(uc.Close)
			store := &failStore{TokenStore: tokenstore.NewMemory(), load: errors.New("disk on fire")}
			src := ucoauth.NewTokenSource(uc.Config(), store, "M1")
			t.Cleanup(func() { _ = src.Close() })
			_, err := src.Token()
			return err, nil
		}},
		{"store: no token", func(t *testing.T) (error, []string) {
			uc := ucoauthtest.NewServer()
			t.Cleanup(uc.Close)
			src := ucoauth.NewTokenSource(uc.Config(), tokenstore.NewMemory(), "M1")
			t.Cleanup(func() { _ = src.Close() })
			_, err := src.Token()
			return err, nil
		}},
		{"store: StoreError over the library's own sentinel", func(t *testing.T) (error, []string) {
			return &ucoauth.StoreError{Op: "save", Key: "M1", Err: ucoauth.ErrSuperseded}, nil
		}},
		{"store: StoreError over ErrTokenNotFound", func(t *testing.T) (error, []string) {
			return &ucoauth.StoreError{Op: "load", Key: "M1", Err: fmt.Errorf("%w (file x)", ucoauth.ErrTokenNotFound)}, nil
		}},
		{"store: lock refused", func(t *testing.T) (error, []string) {
			uc := ucoauthtest.NewServer()
			t.Cleanup(uc.Close)
			mem := tokenstore.NewMemory()
			tok := uc.Issue("M1")
			tok.Expiry = time.Now().Add(-time.Minute)
			require.NoError(t, mem.Save(ctx, "M1", tok))
			store := &failStore{TokenStore: mem, lock: fmt.Errorf("tokenstore: waiting for lock on %q: %w", "M1", context.DeadlineExceeded)}
			src := ucoauth.NewTokenSource(uc.Config(), store, "M1", ucoauth.WithEarlyRefresh(0))
			t.Cleanup(func() { _ = src.Close() })
			_, err := src.Token()
			return err, []string{tok.AccessToken, tok.RefreshToken}
		}},
		{"revoke: refused with a message", func(t *testing.T) (error, []string) {
			uc := ucoauthtest.NewServer()
			t.Cleanup(uc.Close)
			tok := uc.Issue("M1")
			uc.FailNext(1, ucFailure(500, "/oauth/revoke"))
			return ucoauth.Revoke(ctx, uc.Config(), tok.AccessToken), []string{tok.AccessToken}
		}},
		{`revoke: {"successful": false}`, func(t *testing.T) (error, []string) {
			uc := ucoauthtest.NewServer()
			t.Cleanup(uc.Close)
			tok := uc.Issue("M1")
			uc.FailNext(1, ucoauthtest.Failure{Status: 200, Path: "/oauth/revoke",
				Header: http.Header{ultracart.HeaderRESTError: {serverSays}}, Body: fmt.Sprintf(`{"successful": false, "message": %q}`, serverSays)})
			return ucoauth.Revoke(ctx, uc.Config(), tok.AccessToken), []string{tok.AccessToken}
		}},
		{"revoke: through a source whose store cannot delete", func(t *testing.T) (error, []string) {
			uc := ucoauthtest.NewServer()
			t.Cleanup(uc.Close)
			mem := tokenstore.NewMemory()
			tok := uc.Issue("M1")
			require.NoError(t, mem.Save(ctx, "M1", tok))
			store := &failStore{TokenStore: mem, del: errors.New("read-only replica")}
			src := ucoauth.NewTokenSource(uc.Config(), store, "M1")
			t.Cleanup(func() { _ = src.Close() })
			return src.Revoke(ctx), []string{tok.AccessToken, tok.RefreshToken}
		}},
		{"closed source", func(t *testing.T) (error, []string) {
			uc := ucoauthtest.NewServer()
			t.Cleanup(uc.Close)
			src := ucoauth.NewTokenSource(uc.Config(), tokenstore.NewMemory(), "M1")
			_ = src.Close()
			_, err := src.Token()
			return err, nil
		}},
		{"waiting for a token, cancelled", func(t *testing.T) (error, []string) {
			uc := ucoauthtest.NewServer()
			t.Cleanup(uc.Close)
			c, cancel := context.WithCancel(ctx)
			cancel()
			src := ucoauth.NewTokenSource(uc.Config(), tokenstore.NewMemory(), "M1")
			t.Cleanup(func() { _ = src.Close() })
			_, err := src.TokenContext(c)
			return err, nil
		}},
		{"insecure endpoint", func(t *testing.T) (error, []string) {
			cfg := ucoauth.NewConfig("id", "the-client-secret", "http://127.0.0.1/cb")
			cfg.Endpoint = ucoauth.EndpointAt("http://ultracart.example/rest/v2")
			_, err := ucoauth.Exchange(ctx, cfg, "a-code")
			return err, []string{"the-client-secret", "a-code"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err, secrets := tc.run(t)
			require.Error(t, err)
			msg := err.Error()
			assert.True(t, strings.HasPrefix(msg, "ucoauth: "), "one voice: the package's prefix first: %s", msg)
			assert.LessOrEqual(t, strings.Count(msg, "ucoauth:"), 1, "one ucoauth: prefix at most: %s", msg)
			assert.LessOrEqual(t, strings.Count(msg, serverSays), 1, "the server's message once at most: %s", msg)
			for _, s := range secrets {
				if s != "" {
					assert.NotContains(t, msg, s, "a secret leaked")
				}
			}
			t.Log(msg)
		})
	}
}

// TestStatusAfterADeadGrantShowsNoHalfToken: the API refuses the token, the
// forced refresh meets invalid_grant. Status says the grant is dead, and
// shows no fingerprint of a token it no longer serves (it showed the
// refused token's fingerprint with a zero expiry).
func TestStatusAfterADeadGrantShowsNoHalfToken(t *testing.T) {
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	tok := uc.Issue("M1")
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(context.Background(), "M1", tok))
	src := ucoauth.NewTokenSource(uc.Config(), store, "M1")
	defer func() { _ = src.Close() }()
	served, err := src.Token()
	require.NoError(t, err)
	st := src.Status()
	require.Equal(t, ucoauth.StateFresh, st.State)
	require.Equal(t, ucoauth.Fingerprint(tok.AccessToken), st.Token)
	require.False(t, st.Expiry.IsZero())

	uc.FailNext(-1, oauthFailure(400, "invalid_grant"))
	require.True(t, ucoauth.Invalidate(src, served))
	_, err = src.Token()
	require.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)

	st = src.Status()
	assert.Equal(t, ucoauth.StateReauthorizationRequired, st.State)
	assert.Empty(t, st.Token, "no fingerprint of a token that is not served")
	assert.True(t, st.Expiry.IsZero())
	assert.Equal(t, st.Token == "", st.Expiry.IsZero(), "a fingerprint comes with its expiry, or neither shows")
	assert.LessOrEqual(t, strings.Count(st.Err.Error(), serverSays), 1, st.Err.Error())
	assert.LessOrEqual(t, strings.Count(st.Err.Error(), "ucoauth:"), 1, st.Err.Error())
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

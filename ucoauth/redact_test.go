package ucoauth_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/internal/ultracart"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// The secrets of the hostile-server test: what is sent, and what the server
// issues. Each has characters that change under every encoding.
const (
	hClientSecret = "cs-S3cret+/=&x y"
	hRefreshSent  = "rt-OLD+/=?x y"
	hAccessSent   = "at-OLD+/=x y"
	hSimpleKey    = "sk-KEY+/=x-y"
	hCode         = "code-XYZ+/=x y"
	hNewRefresh   = `rt-NEW+/="x\y`
	hNewAccess    = "at-NEW+/=<x>&y"
)

var hostileSecrets = []string{hClientSecret, hRefreshSent, hAccessSent, hSimpleKey, hCode, hNewRefresh, hNewAccess}

// leaks lists every secret found in out, in any encoding it can take.
func leaks(out string) []string {
	var found []string
	for _, s := range hostileSecrets {
		j, _ := json.Marshal(s)
		q := strconv.Quote(s)
		for _, enc := range []string{s, url.QueryEscape(s), url.PathEscape(s), string(j[1 : len(j)-1]), q[1 : len(q)-1], hex.EncodeToString([]byte(s))} {
			if strings.Contains(out, enc) {
				found = append(found, fmt.Sprintf("%q as %q", s, enc))
			}
		}
	}
	return found
}

// echo is what a hostile server reflects: the whole form it was sent,
// URL-encoded, and the simple key.
func echo(r *http.Request) string {
	_ = r.ParseForm()
	return r.PostForm.Encode() + " key=" + r.Header.Get(ultracart.HeaderSimpleKey)
}

func writeJSONBody(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

var hostileAnswers = []struct {
	name   string
	answer func(w http.ResponseWriter, r *http.Request)
}{
	{"error code field echoes the form", func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, 400, map[string]string{"error": echo(r)})
	}},
	{"error_description and error_uri echo", func(w http.ResponseWriter, r *http.Request) {
		e := echo(r)
		writeJSONBody(w, 400, map[string]string{"error": "invalid_request", "error_description": "you sent " + e,
			"error_uri": "https://x.example/e/" + url.PathEscape(e) + "?q=" + url.QueryEscape(e)})
	}},
	{"ErrorResponse error_code and messages echo", func(w http.ResponseWriter, r *http.Request) {
		e := echo(r)
		writeJSONBody(w, 403, map[string]any{"error": map[string]string{"developer_message": e, "user_message": e, "error_code": e}, "success": false})
	}},
	{"UC-REST-ERROR headers echo", func(w http.ResponseWriter, r *http.Request) {
		e := echo(r)
		w.Header().Set(ultracart.HeaderRESTError, "bad: "+strconv.Quote(e))
		w.Header().Set(ultracart.HeaderRESTErrorMerchantID, url.QueryEscape(e))
		w.WriteHeader(500)
	}},
	{"wrong shape holds a new refresh token", func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, 200, map[string]any{"access_token": hNewAccess, "refresh_token": []string{hNewRefresh}, "expires_in": "3600"})
	}},
	{"wrong shape nests the access token", func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, 200, map[string]any{"access_token": map[string]string{"v": hNewAccess}, "refresh_token": hNewRefresh})
	}},
	{"error in a 200 body next to new tokens", func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, 200, map[string]string{"access_token": hNewAccess, "refresh_token": hNewRefresh, "error": "server_error " + hNewRefresh,
			"error_description": "issued " + hNewAccess + " and " + url.QueryEscape(hNewRefresh)})
	}},
	{"form-encoded 200 with the tokens", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		_, _ = w.Write([]byte("access_token=" + url.QueryEscape(hNewAccess) + "&refresh_token=" + url.QueryEscape(hNewRefresh)))
	}},
	{"429 echo with a huge Retry-After", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "99999999999")
		writeJSONBody(w, 429, map[string]string{"error": "slow_down", "error_description": echo(r)})
	}},
}

// logBoth returns a logger writing to a text and a JSON handler at once.
type bothHandler struct{ hs []slog.Handler }

func (b bothHandler) Enabled(ctx context.Context, l slog.Level) bool { return true }
func (b bothHandler) Handle(ctx context.Context, r slog.Record) error {
	for _, h := range b.hs {
		_ = h.Handle(ctx, r.Clone())
	}
	return nil
}
func (b bothHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := bothHandler{}
	for _, h := range b.hs {
		out.hs = append(out.hs, h.WithAttrs(as))
	}
	return out
}
func (b bothHandler) WithGroup(g string) slog.Handler {
	out := bothHandler{}
	for _, h := range b.hs {
		out.hs = append(out.hs, h.WithGroup(g))
	}
	return out
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newBothLogger(buf *syncBuf) *slog.Logger {
	return slog.New(bothHandler{[]slog.Handler{slog.NewTextHandler(buf, nil), slog.NewJSONHandler(buf, nil)}})
}

// printed renders v under every fmt verb, and through slog text and JSON.
func printed(v any) string {
	var b strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		fmt.Fprintf(&b, verb+"\n", v)
	}
	var buf syncBuf
	newBothLogger(&buf).Error("x", "v", v)
	b.WriteString(buf.String())
	if j, err := json.Marshal(v); err == nil {
		b.Write(j)
	}
	return b.String()
}

func TestHostileServersLeakNoSecret(t *testing.T) {
	for _, tc := range hostileAnswers {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(tc.answer))
			defer srv.Close()
			cfg := ucoauth.NewConfig("client-1", hClientSecret, "https://app.example/cb")
			cfg.Endpoint = ucoauth.EndpointAt(srv.URL)
			ctx := t.Context()

			var out strings.Builder
			// Exchange, with the code.
			tok, err := ucoauth.Exchange(ctx, cfg, hCode, ucoauth.WithSimpleKey(hSimpleKey))
			require.Error(t, err)
			require.Nil(t, tok)
			out.WriteString(err.Error() + "\n" + printed(err))
			// Revoke, with the access token.
			err = ucoauth.Revoke(t.Context(), cfg, hAccessSent, ucoauth.WithSimpleKey(hSimpleKey))
			if err != nil {
				out.WriteString(err.Error() + "\n" + printed(err))
			}
			// A TokenSource refresh, logged to text and JSON, and its hook.
			store := tokenstore.NewMemory()
			require.NoError(t, store.Save(t.Context(), "m", &oauth2.Token{AccessToken: hAccessSent, RefreshToken: hRefreshSent,
				Expiry: time.Now().Add(-time.Minute)}))
			var logs syncBuf
			events := make(chan ucoauth.RefreshEvent, 1)
			src := ucoauth.NewTokenSource(cfg, store, "m", ucoauth.WithSimpleKey(hSimpleKey), ucoauth.WithLogger(newBothLogger(&logs)),
				ucoauth.WithRefreshHook(func(e ucoauth.RefreshEvent) { events <- e }))
			_, err = src.Token()
			require.Error(t, err)
			out.WriteString(printed(err))
			select {
			case ev := <-events:
				out.WriteString(printed(ev) + printed(&ev))
			case <-time.After(30 * time.Second):
				t.Fatal("no refresh event")
			}
			out.WriteString(logs.String())

			assert.Empty(t, leaks(out.String()), "output:\n%s", out.String())
		})
	}
}

func TestTokenPrintsSafely(t *testing.T) {
	tok := (&oauth2.Token{AccessToken: hNewAccess, RefreshToken: hNewRefresh, TokenType: "bearer", Expiry: time.Now()}).
		WithExtra(map[string]any{"scope": "order_read"})
	ev := ucoauth.RefreshEvent{Key: "m", Token: tok, Err: fmt.Errorf("boom"), Duration: time.Second}
	for name, v := range map[string]any{"LogToken": ucoauth.LogToken(tok), "RefreshEvent": ev, "*RefreshEvent": &ev} {
		out := printed(v)
		assert.Empty(t, leaks(out), "%s printed:\n%s", name, out)
		assert.Contains(t, out, ucoauth.Fingerprint(hNewRefresh), "%s still tells tokens apart", name)
	}
	assert.Equal(t, hNewAccess, ev.Token.AccessToken, "the fields stay usable")
	assert.Contains(t, fmt.Sprint(ev), `Key: "m"`)
	assert.Contains(t, fmt.Sprint(ucoauth.LogToken(tok)), "scope=\"order_read\"")
}

// Every caller that waited for one refresh gets the same *Error, and may
// print it at the same time.
func TestErrorPrintsConcurrently(t *testing.T) {
	rs := newRaw(t, 400, `{}`, "UC-REST-ERROR", "")
	_, err := ucoauth.Exchange(t.Context(), rs.config("client-secret-1"), "code-1")
	require.Error(t, err)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { assert.NotEmpty(t, fmt.Sprintf("%v %q", err, err)) })
	}
	wg.Wait()
}

// The scope is the server's text: a token of the same answer echoed in it
// does not get printed through it.
func TestScopeEchoingATokenPrintsSafely(t *testing.T) {
	rs := newRaw(t, 200, `{"access_token":"at-NEW-123","refresh_token":"rt-NEW-456","expires_in":"3600","scope":"order_read rt-NEW-456 at-NEW-123"}`)
	tok, err := ucoauth.Exchange(t.Context(), rs.config(""), "code-1")
	require.NoError(t, err)
	ev := ucoauth.RefreshEvent{Key: "m", Token: tok}
	for name, v := range map[string]any{"LogToken": ucoauth.LogToken(tok), "RefreshEvent": ev} {
		out := printed(v)
		assert.NotContains(t, out, "rt-NEW-456", name)
		assert.NotContains(t, out, "at-NEW-123", name)
		assert.Contains(t, out, "order_read", name)
	}
}

// The token server issued the access token being replaced, so it can echo
// it in a refresh's error even though the refresh does not send it: it is
// scrubbed like the refresh token that was sent.
func TestRefreshErrorEchoingTheOldAccessTokenIsScrubbed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(ultracart.HeaderRESTError, "token "+hAccessSent+" is stale")
		writeJSONBody(w, 400, map[string]string{"error": "invalid_request", "error_description": "stale " + url.QueryEscape(hAccessSent)})
	}))
	defer srv.Close()
	cfg := ucoauth.NewConfig("client-1", hClientSecret, "https://app.example/cb")
	cfg.Endpoint = ucoauth.EndpointAt(srv.URL)
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(t.Context(), "m", &oauth2.Token{AccessToken: hAccessSent, RefreshToken: hRefreshSent,
		Expiry: time.Now().Add(-time.Minute)}))
	var logs syncBuf
	events := make(chan ucoauth.RefreshEvent, 1)
	src := ucoauth.NewTokenSource(cfg, store, "m", ucoauth.WithLogger(newBothLogger(&logs)),
		ucoauth.WithRefreshHook(func(e ucoauth.RefreshEvent) { events <- e }))
	defer src.Close()
	_, err := src.Token()
	require.Error(t, err)
	require.Contains(t, err.Error(), "stale", "the server's text is kept")
	out := printed(err) + printed(src.Status())
	select {
	case ev := <-events:
		out += printed(ev)
	case <-time.After(30 * time.Second):
		t.Fatal("no refresh event")
	}
	out += logs.String()
	assert.Empty(t, leaks(out), "output:\n%s", out)
}

// A revoke sends only the access token, but the server knows the refresh
// token of the same grant: echoed in the revoke's error, it is scrubbed.
func TestRevokeErrorEchoingTheRefreshTokenIsScrubbed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, 400, map[string]string{"error": "invalid_request", "error_description": "grant of " + hRefreshSent + " is busy"})
	}))
	defer srv.Close()
	cfg := ucoauth.NewConfig("client-1", hClientSecret, "https://app.example/cb")
	cfg.Endpoint = ucoauth.EndpointAt(srv.URL)
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(t.Context(), "m", &oauth2.Token{AccessToken: hAccessSent, RefreshToken: hRefreshSent,
		Expiry: time.Now().Add(time.Hour)}))
	src := ucoauth.NewTokenSource(cfg, store, "m")
	defer src.Close()
	err := src.Revoke(t.Context())
	require.Error(t, err)
	require.Contains(t, err.Error(), "is busy", "the server's text is kept")
	assert.Empty(t, leaks(printed(err)))
}

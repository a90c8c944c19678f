package ucoauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// The refresher returns what happened and writes none of the source's
// state: the token served and the health record change only in finish.

type memStore struct{ tok *oauth2.Token }

func (m *memStore) Load(_ context.Context, _ string) (*oauth2.Token, error) {
	if m.tok == nil {
		return nil, ErrTokenNotFound
	}
	return m.tok, nil
}
func (m *memStore) Save(_ context.Context, _ string, tok *oauth2.Token) error {
	m.tok = tok
	return nil
}
func (m *memStore) Delete(context.Context, string) error { m.tok = nil; return nil }

func tokenServer(t *testing.T, status int, body string) *oauth2.Config {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return &oauth2.Config{ClientID: "id", ClientSecret: "secret", Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/oauth/token"}}
}

func expired() *oauth2.Token {
	return &oauth2.Token{AccessToken: "AT-old", RefreshToken: "RT-old", Expiry: time.Now().Add(-time.Minute), ExpiresIn: 3600}
}

func TestRefresherReturnsADeadGrantWithoutRecordingIt(t *testing.T) {
	cfg := tokenServer(t, http.StatusBadRequest, `{"error":"invalid_grant"}`)
	store := &memStore{tok: expired()}
	s := NewTokenSource(cfg, store, "k")
	defer s.Close()

	r := s.refresher().refresh(t.Context(), nil)
	require.Error(t, r.err)
	assert.ErrorIs(t, r.err, ErrReauthorizationRequired)
	assert.Nil(t, r.st)
	assert.Equal(t, "RT-old", r.dead.rt, "the refused refresh token, to be never sent again")
	require.NotNil(t, r.ev, "it reached the server: reported")
	assert.Nil(t, s.h.Load(), "nothing recorded by the refresher")
	assert.Nil(t, s.cur.Load(), "nothing installed by the refresher")

	// finish records it, through the policy.
	s.mu.Lock()
	c := s.beginLocked()
	s.mu.Unlock()
	s.finish(c, r)
	p := s.pol()
	assert.NoError(t, p.deadErr("RT-new"))
	assert.ErrorIs(t, p.deadErr("RT-old"), ErrReauthorizationRequired)
	assert.Equal(t, 1, p.fail.count)
}

func TestRefresherReturnsTheSavedTokenWithoutInstallingIt(t *testing.T) {
	cfg := tokenServer(t, http.StatusOK, `{"access_token":"AT-new","refresh_token":"RT-new","token_type":"bearer","expires_in":"3600"}`)
	store := &memStore{tok: expired()}
	s := NewTokenSource(cfg, store, "k")
	defer s.Close()

	r := s.refresher().refresh(t.Context(), nil)
	require.NoError(t, r.err)
	require.NotNil(t, r.st)
	assert.Equal(t, "AT-new", r.st.tok.AccessToken)
	require.NotNil(t, r.ev)
	assert.Same(t, r.st.tok, r.ev.Token)
	assert.Equal(t, "AT-new", store.tok.AccessToken, "saved before it is handed out")
	assert.Zero(t, r.forcedAt, "not forced by a refusal")
	assert.Nil(t, s.cur.Load())
	assert.Nil(t, s.h.Load())
}

func TestRefresherReturnsThePaceStepOfAForcedRefresh(t *testing.T) {
	cfg := tokenServer(t, http.StatusOK, `{"access_token":"AT-new","refresh_token":"RT-new","token_type":"bearer","expires_in":"3600"}`)
	fresh := &oauth2.Token{AccessToken: "AT-old", RefreshToken: "RT-old", Expiry: time.Now().Add(time.Hour), ExpiresIn: 3600}
	store := &memStore{tok: fresh}
	s := NewTokenSource(cfg, store, "k")
	defer s.Close()

	r := s.refresher().refresh(t.Context(), rejectedState(fresh)) // the API refused it
	require.NoError(t, r.err)
	assert.NotZero(t, r.forcedAt, "a forced request: one step of the pace")
	assert.Nil(t, s.h.Load(), "the pace is recorded by finish, not here")

	s.mu.Lock()
	c := s.beginLocked()
	s.mu.Unlock()
	s.finish(c, r)
	assert.Equal(t, 1, s.pol().pace.n)
	_, held := s.pol().paceHolds(r.forcedAt)
	assert.True(t, held, "the next forced request waits")
}

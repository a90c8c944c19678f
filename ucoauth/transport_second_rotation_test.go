package ucoauth_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// rotatingAPI is an API that, like fosite by default, revokes the previous
// access token when another process refreshes: each request it refuses
// first has the next token of next saved to the store, as that process
// would. It accepts only the token after the last one it handed out.
type rotatingAPI struct {
	t    *testing.T
	f    *fixture
	mu   sync.Mutex
	seen []string // the tokens the requests carried, in order
	next []string // the access tokens saved at each refusal
	ok   string   // the token accepted
}

func (a *rotatingAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	got := r.Header.Get("Authorization")
	a.seen = append(a.seen, got)
	if a.ok != "" && got == "Bearer "+a.ok {
		return
	}
	// Another process refreshed meanwhile: the token this request carried
	// is revoked, and the new one saved.
	a.f.clock.Advance(time.Second)
	tok := a.f.srv.Issue("DEMO", ucoauth.ScopeOrderRead)
	if !assert.NoError(a.t, a.f.store.Save(r.Context(), "m", tok)) {
		return
	}
	a.next = append(a.next, tok.AccessToken)
	w.WriteHeader(http.StatusUnauthorized)
}

// TestTransport401RetriedAgainAfterASecondRotation: a request refused
// because another process rotated the token is retried with the new token,
// and that retry meets a second rotation on its way (two refreshes in
// quick succession on a loaded machine). The source holds a newer token
// still: the request is sent once more with it, instead of handing the
// caller a 401.
func TestTransport401RetriedAgainAfterASecondRotation(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t)
	defer src.Close()
	api := &rotatingAPI{t: t, f: f}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.mu.Lock()
		if len(api.next) == 2 {
			api.ok = api.next[1] // the second rotation's token lives
		}
		api.mu.Unlock()
		api.ServeHTTP(w, r)
	}))
	defer srv.Close()
	client := &http.Client{Transport: &ucoauth.Transport{Source: src, Origin: srv.URL}}

	code, err := get(t, client, srv.URL+"/x")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code, "the caller never sees the 401s of two rotations")
	api.mu.Lock()
	defer api.mu.Unlock()
	require.Len(t, api.next, 2)
	assert.Equal(t, []string{"Bearer " + f.tok.AccessToken, "Bearer " + api.next[0], "Bearer " + api.next[1]}, api.seen)
	assert.Zero(t, f.srv.Stats().Refreshes(), "the rotated tokens were adopted from the store, not refreshed")
}

// TestTransport401RetriesAreBounded: an API that refuses every request
// while a new token lands in the store at each refusal costs a request
// three sends, not a loop: the first, and one per rotation, twice.
func TestTransport401RetriesAreBounded(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t)
	defer src.Close()
	api := &rotatingAPI{t: t, f: f}
	srv := httptest.NewServer(api)
	defer srv.Close()
	client := &http.Client{Transport: &ucoauth.Transport{Source: src, Origin: srv.URL}}

	code, err := get(t, client, srv.URL+"/x")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, code)
	api.mu.Lock()
	defer api.mu.Unlock()
	assert.Len(t, api.seen, 3, "sent at most three times")
	assert.Zero(t, f.srv.Stats().Refreshes())
}

package ucoauth_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// refusingAPI: /token rotates tokens and counts refreshes; /ok accepts any
// token; /bad always answers 401 (say, a resource the grant's scope does
// not cover, which the API refuses with 401).
func refusingAPI(t *testing.T, refreshes *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			n := refreshes.Add(1)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":"AT-%d-xxxxxxxx","refresh_token":"RT-%d-yyyyyyyy","token_type":"bearer","expires_in":"3600"}`, n, n)
		case "/ok":
			w.WriteHeader(200)
		case "/bad":
			w.WriteHeader(401)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestAPIRefusingSomeRequestsCausesNoRefreshStorm: the API accepts the
// token on one path and refuses it (401) on another, as a scope it does not
// cover might. Each refusal invalidates the token, but the token requests
// they force are paced: within a minute, each waits one backoff step more.
func TestAPIRefusingSomeRequestsCausesNoRefreshStorm(t *testing.T) {
	var refreshes atomic.Int64
	srv := refusingAPI(t, &refreshes)
	cfg := &oauth2.Config{ClientID: "cid", ClientSecret: "csecret-123456",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	store := tokenstore.NewMemory()
	require.NoError(t, store.Save(context.Background(), "m", &oauth2.Token{AccessToken: "AT-0-xxxxxxxx", RefreshToken: "RT-0-yyyyyyyy",
		TokenType: "bearer", Expiry: time.Now().Add(time.Hour), ExpiresIn: 3600}))
	src := ucoauth.NewTokenSource(cfg, store, "m")
	defer src.Close()
	client := ucoauth.NewClient(context.Background(), src)
	const rounds = 50
	for range rounds {
		for _, p := range []string{"/ok", "/bad"} {
			resp, err := client.Get(srv.URL + p)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}
	t.Logf("%d API round trips caused %d refreshes", 2*rounds, refreshes.Load())
	assert.LessOrEqual(t, refreshes.Load(), int64(10), "refresh storm: token endpoint hit once per refused API call")
}

// blipStore is a Memory store whose saves fail (temporarily, as an outage
// does) for a while right after a Delete.
type blipStore struct {
	*tokenstore.Memory
	failing atomic.Int64
	deletes atomic.Int64
}

type blipErr struct{}

func (blipErr) Error() string   { return "store blip" }
func (blipErr) Temporary() bool { return true }

func (b *blipStore) Delete(ctx context.Context, key string) error {
	b.deletes.Add(1)
	b.failing.Store(3) // the next three saves fail: the quick retries
	return b.Memory.Delete(ctx, key)
}

func (b *blipStore) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	if b.failing.Add(-1) >= 0 {
		return blipErr{}
	}
	return b.Memory.Save(ctx, key, tok)
}

// TestReplacingTheStoredTokenSurvivesAStoreBlip: UltraCart shortens the
// lifetime it grants (3600 s, then 1800 s) and rotates the refresh token.
// The refreshed token expires before the stored one, so the source replaces
// the stored one (delete, then save). When the store blips at that moment,
// the replacement is retried in the background like any failed save, and
// the rotated refresh token reaches the store.
func TestReplacingTheStoredTokenSurvivesAStoreBlip(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"AT-1-xxxxxxxx","refresh_token":"RT-1-rotated","token_type":"bearer","expires_in":"1800"}`)
	}))
	defer srv.Close()
	cfg := &oauth2.Config{ClientID: "cid", Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	store := &blipStore{Memory: tokenstore.NewMemory()}
	t0 := &oauth2.Token{AccessToken: "AT-0-xxxxxxxx", RefreshToken: "RT-0-original", TokenType: "bearer",
		Expiry: time.Now().Add(time.Hour), ExpiresIn: 3600}
	require.NoError(t, store.Memory.Save(context.Background(), "m", t0))
	src := ucoauth.NewTokenSource(cfg, store, "m", ucoauth.WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	tok, err := src.Token()
	require.NoError(t, err)
	require.True(t, ucoauth.Invalidate(src, tok)) // the API answered 401
	tok, err = src.Token()
	require.NoError(t, err)
	require.Equal(t, "RT-1-rotated", tok.RefreshToken, "the server rotated the refresh token")
	require.EqualValues(t, 1, store.deletes.Load(), "the replace path ran")

	// The store is healthy again; give any background retry ample time.
	time.Sleep(time.Second)
	src.Close()
	got, err := store.Memory.Load(context.Background(), "m")
	require.NoError(t, err, "the store lost the merchant's token: the rotated refresh token was only in memory")
	assert.Equal(t, "RT-1-rotated", got.RefreshToken)
}

// TestAPIRefusingForeverReachesTheMaximumBackoff: an API that answers 401
// to every request, for an hour of simulated time, one request a second.
// The token requests those refusals force back off step by step up to the
// maximum backoff (5 minutes, jittered down to no less than 2.5), and stay
// there: the streak must not start over at 1 s once a step outgrows a
// minute.
func TestAPIRefusingForeverReachesTheMaximumBackoff(t *testing.T) {
	f := newFixture(t, time.Hour)
	src := f.loaded(t)
	defer src.Close()
	var apiCalls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apiCalls.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer api.Close()
	client := &http.Client{Transport: &ucoauth.Transport{Source: src, Origin: api.URL}}
	var half int
	for sec := range 3600 {
		if sec == 1800 {
			half = f.srv.Stats().Refreshes()
		}
		resp, err := client.Get(api.URL + "/x")
		if err == nil {
			resp.Body.Close()
		}
		f.clock.Advance(time.Second)
	}
	total := f.srv.Stats().Refreshes()
	t.Logf("token requests: %d in the first half hour, %d in the second; API requests: %d", half, total-half, apiCalls.Load())
	assert.LessOrEqual(t, half, 9+12, "steps 1 s ... 4 min, then at most one per 2.5 min")
	assert.LessOrEqual(t, total-half, 13, "at the maximum backoff: at most one token request per 2.5 minutes")
	assert.LessOrEqual(t, int(apiCalls.Load()), total+5, "each new token is refused about once: no request loop")
}

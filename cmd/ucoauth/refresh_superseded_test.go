package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// supersedingProxy stands between the command and the fake. When the
// command's refresh arrives, it first connects the merchant again (a new
// login, saved in the store under key) and only then forwards the refresh,
// whose answer UltraCart grants a shorter lifetime (10 minutes): the
// command's save finds a newer token, one that expires later, in the store.
type supersedingProxy struct {
	mu    sync.Mutex
	newer *oauth2.Token // the login saved while the refresh ran
	srv   *httptest.Server
}

func newSupersedingProxy(t *testing.T, f *fake, dir, key string) *supersedingProxy {
	p := &supersedingProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.URL.Path != "/rest/v2/oauth/token" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		refresh := r.PostForm.Get("grant_type") == "refresh_token"
		if refresh {
			p.mu.Lock()
			if p.newer == nil {
				p.newer = connect(t, f, dir, key) // the new login, saved meanwhile
			}
			p.mu.Unlock()
		}
		resp, err := http.PostForm(f.base()+"/oauth/token", r.PostForm)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if refresh && resp.StatusCode == http.StatusOK {
			var m map[string]any
			if json.Unmarshal(body, &m) == nil {
				m["expires_in"] = "600"
				body, _ = json.Marshal(m)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *supersedingProxy) base() string { return p.srv.URL + "/rest/v2" }

// TestRefreshKeepsANewerTokenSavedMeanwhile: a new login lands while
// `ucoauth refresh` runs. The refresh's save is superseded; the newer token
// wins: it stays in the store, and the command says so (it used to delete
// it and save its own, which expires earlier).
func TestRefreshKeepsANewerTokenSavedMeanwhile(t *testing.T) {
	for _, cmd := range [][]string{{"refresh", "M1"}, {"token", "M1"}} {
		t.Run(cmd[0], func(t *testing.T) {
			f := startFake(t)
			dir := t.TempDir()
			old := connect(t, f, dir, "M1")
			if cmd[0] == "token" {
				soon := *old
				soon.Expiry = time.Now().Add(30 * time.Second) // token refreshes it
				overwrite(t, dir, "M1", &soon)
			}
			p := newSupersedingProxy(t, f, dir, "M1")

			env := baseEnv("UCOAUTH_STORE=file:"+dir, "ULTRACART_BASE_URL="+p.base(),
				"ULTRACART_CLIENT_ID="+clientID, "ULTRACART_CLIENT_SECRET="+clientSecret)
			r := runCmd(t, env, cmd...)
			require.NotNil(t, p.newer, "the refresh reached the proxy; stderr: %s", r.stderr)
			require.Equal(t, 0, r.code, r.stderr)
			assert.Contains(t, r.stderr, "A newer token for M1 was saved while this refresh ran")
			assert.Contains(t, r.stderr, "it is kept")
			assert.NotContains(t, r.stderr, "Refreshed M1")

			stored, err := loadToken(t, dir, "M1")
			require.NoError(t, err)
			assert.Equal(t, p.newer.AccessToken, stored.AccessToken, "the newer token is kept")
			assert.Equal(t, p.newer.RefreshToken, stored.RefreshToken)
			assert.Greater(t, time.Until(stored.Expiry), 50*time.Minute, "not the refresh's 10-minute token")
			assert.NotEqual(t, old.AccessToken, stored.AccessToken)
			if cmd[0] == "token" {
				assert.Equal(t, p.newer.AccessToken+"\n", r.stdout, "the token printed is the one the store keeps")
			}
			noSecrets(t, r.stdout+r.stderr, old.AccessToken, old.RefreshToken, p.newer.RefreshToken)
			if cmd[0] == "refresh" {
				noSecrets(t, r.stderr, p.newer.AccessToken)
			}
			status, _ := apiGet(t, f, stored.AccessToken)
			assert.Equal(t, http.StatusOK, status)
		})
	}
}

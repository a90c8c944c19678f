package fleet

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// EnvRevokedBase tells a process of Revoked the fake UltraCart's URL.
const EnvRevokedBase = "UCOAUTH_REVOKED_BASE"

// Revoked runs 3 OS processes (this test binary re-running testName, with
// storeEnv added to their environment, which RevokedChild then runs) over
// store, holding the merchant "DEMO"'s tokens (they last 2 s, rotation on)
// against a fake whose revocation answers as answer says, and revokes the
// merchant from this process. No process may bring the merchant back:
// each meets the tombstone, on a load or a refused save, and answers
// ErrReauthorizationRequired, and the store never again holds a token of
// the revoked grant. A new authorization then replaces the tombstone, and
// every process serves it.
func Revoked(t *testing.T, testName string, answer ucoauthtest.RevokeAnswer, store ucoauth.TokenStore, storeEnv string) {
	srv := ucoauthtest.NewServer()
	defer srv.Close()
	srv.SetRotation(true)
	srv.SetLifetime(2 * time.Second)
	srv.SetRevokeAnswer(answer)
	first := srv.Issue("DEMO")
	require.NoError(t, store.Save(t.Context(), "DEMO", first))

	const procs = 3
	var ready, revoked, reconnected, done sync.WaitGroup
	ready.Add(procs)
	revoked.Add(procs)
	reconnected.Add(procs)
	lines := make([][]string, procs)
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^"+testName+"$", "-test.v")
		cmd.Env = append(os.Environ(), storeEnv, EnvRevokedBase+"="+srv.BaseURL())
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		done.Go(func() {
			seen := map[string]bool{}
			mark := func(word string, wg *sync.WaitGroup) {
				if !seen[word] {
					seen[word] = true
					wg.Done()
				}
			}
			// A child that ends early releases whatever it did not reach.
			defer mark("READY", &ready)
			defer mark("REVOKED", &revoked)
			defer mark("RECONNECTED", &reconnected)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				switch word, _, _ := strings.Cut(sc.Text(), " "); word {
				case "READY":
					mark(word, &ready)
				case "REVOKED":
					mark(word, &revoked)
				case "RECONNECTED":
					mark(word, &reconnected)
				case "RESULT":
					lines[i] = append(lines[i], sc.Text())
				}
			}
			assert.NoError(t, cmd.Wait(), "child %d", i)
		})
	}
	ready.Wait() // every process holds the merchant's tokens

	// Revoke from this process, which holds the tokens too.
	src := ucoauth.NewTokenSource(srv.Config(), store, "DEMO")
	defer src.Close()
	_, err := src.Token()
	require.NoError(t, err)
	require.NoError(t, src.Revoke(t.Context()))
	revokedAt := srv.Stats()

	// Until the reconnect, the store must never hold a token again.
	var back atomic.Int32
	stopWatch := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if tok, err := store.Load(t.Context(), "DEMO"); err == nil && back.Add(1) == 1 {
				t.Logf("the revoked merchant is back in the store (grant %q)", ucoauth.GrantID(tok))
			}
		}
	})
	revoked.Wait() // every process answered ErrReauthorizationRequired
	// Each process refreshes every 1.5 s at most: wait out two lifetimes
	// more, so that any refresh in flight or held in memory has come back.
	for range 2 {
		tok, err := store.Load(t.Context(), "DEMO")
		require.ErrorIs(t, err, ucoauth.ErrRevoked, "the tombstone stays")
		require.Nil(t, tok)
		time.Sleep(2 * time.Second) // not a limit: lets the fleet try to refresh
	}
	close(stopWatch)
	watch.Wait()
	afterRevoke := srv.Stats()

	// The merchant connects again: every process serves the new grant.
	again := srv.Issue("DEMO")
	require.NoError(t, store.Save(t.Context(), "DEMO", again), "a new authorization replaces the tombstone")
	reconnected.Wait()
	done.Wait()

	t.Logf("token requests: refresh %d before the revoke, %d after; invalid_grant %d; revoke %d, refresh-token revoke %d; children: %v",
		revokedAt.Refreshes(), afterRevoke.Refreshes()-revokedAt.Refreshes(), afterRevoke.InvalidGrant,
		afterRevoke.Revoke, afterRevoke.RevokeRefresh, lines)
	assert.Zero(t, back.Load(), "the revoked merchant came back into the store")
	assert.Equal(t, 1, afterRevoke.Revoke, "the access token was revoked once")
	assert.Equal(t, 1, afterRevoke.RevokeRefresh, "and the refresh token was sent for revocation")
	for i, l := range lines {
		require.Len(t, l, 1, "child %d reported", i)
		assert.Contains(t, l[0], "revoked=true", "child %d answered ErrReauthorizationRequired", i)
		assert.Contains(t, l[0], "reconnected=true grant="+ucoauth.GrantID(again)+" ", "child %d serves the new grant", i)
	}
	tok, err := store.Load(t.Context(), "DEMO")
	require.NoError(t, err)
	assert.NotEqual(t, ucoauth.GrantID(first), ucoauth.GrantID(tok), "the store holds the new grant")
	assert.Equal(t, ucoauth.GrantID(again), ucoauth.GrantID(tok))
}

// RevokedChild is a process of Revoked: it serves the merchant from store,
// says READY once it holds a token, REVOKED the first time it answers
// ErrReauthorizationRequired, and RECONNECTED when it serves a token again
// after that; then it stops.
func RevokedChild(t *testing.T, store ucoauth.TokenStore) {
	cfg := ucoauth.NewConfig(ucoauthtest.DefaultClientID, ucoauthtest.DefaultClientSecret, "")
	cfg.Endpoint = ucoauth.EndpointAt(os.Getenv(EnvRevokedBase))
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer hc.CloseIdleConnections()
	src := ucoauth.NewTokenSource(cfg, store, "DEMO", ucoauth.WithEarlyRefresh(500*time.Millisecond), ucoauth.WithHTTPClient(hc))
	defer src.Close()
	var sawRevoked, sawReconnect bool
	var other []string
	grant := ""
	// Bounded so that a broken child ends; the parent checks the outcome.
	for stop := time.Now().Add(time.Minute); time.Now().Before(stop) && !sawReconnect; time.Sleep(20 * time.Millisecond) {
		tok, err := src.TokenContext(t.Context())
		switch {
		case err == nil && !sawRevoked && ucoauth.GrantID(tok) != "":
			fmt.Println("READY")
		case err == nil && sawRevoked:
			sawReconnect, grant = true, ucoauth.GrantID(tok)
			fmt.Println("RECONNECTED")
		case errors.Is(err, ucoauth.ErrReauthorizationRequired):
			if !sawRevoked {
				sawRevoked = true
				fmt.Printf("REVOKED %v\n", src.Status().State)
			}
		case err != nil:
			other = append(other, err.Error())
		}
	}
	fmt.Printf("RESULT revoked=%v reconnected=%v grant=%s other=%q\n", sawRevoked, sawReconnect, grant, other)
}

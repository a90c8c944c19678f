package interop_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/interop/fositeserver"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

const (
	// fleetInstances is how many independent token holders share a grant.
	fleetInstances = 8
	// fleetCallers goroutines per instance call the API, pausing fleetPause
	// between calls, so that the load is steady without hogging the CPU.
	fleetCallers = 2
	fleetPause   = 10 * time.Millisecond
	// fleetGenerations is how many refreshes fosite must see before the
	// fleet stops: several token generations.
	fleetGenerations = 4
	// fleetHang bounds a run that never gets there. It is not a
	// performance limit.
	fleetHang = 2 * time.Minute
	// xEarlyExpiry is bare x/oauth2's refresh margin (its default, 10 s,
	// exceeds fosite's short tokens and would refresh on every call).
	xEarlyExpiry = time.Second
)

// tally counts a fleet's API calls as its callers saw them.
type tally struct {
	ok, rejected, failed atomic.Int64
	firstErr             atomic.Value
}

func (tl *tally) record(status int, err error) {
	switch {
	case err != nil:
		tl.failed.Add(1)
		tl.firstErr.CompareAndSwap(nil, err.Error())
	case status == http.StatusOK:
		tl.ok.Add(1)
	default:
		tl.rejected.Add(1)
	}
}

func (tl *tally) firstError() string {
	s, _ := tl.firstErr.Load().(string)
	return s
}

// hammer calls url through c from fleetCallers goroutines until stopped
// returns true or ctx ends.
func hammer(ctx context.Context, wg *sync.WaitGroup, c *http.Client, url string, tl *tally, stopped func() bool) {
	for range fleetCallers {
		wg.Go(func() {
			for ctx.Err() == nil && !stopped() {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				if err != nil {
					tl.record(0, err)
					return
				}
				status, _, err := call(c, req)
				if ctx.Err() != nil {
					return
				}
				tl.record(status, err)
				select {
				case <-ctx.Done():
				case <-time.After(fleetPause):
				}
			}
		})
	}
}

// waitGenerations waits, up to fleetHang, until srv has seen n refreshes and
// store holds the newest token srv issued. That is a quiet moment to stop a
// fleet: the newest token is fresh and saved, so no refresh is under way and
// none will start for half its lifetime. It gives up at once when a refresh
// fails: the grant is dead and no generation will follow.
func waitGenerations(ctx context.Context, srv *fositeserver.Server, store ucoauth.TokenStore, n int) bool {
	deadline := time.Now().Add(fleetHang)
	for time.Now().Before(deadline) {
		st := srv.Stats()
		if len(st.TokenErrors) > 0 {
			return false
		}
		if st.Refreshes >= n {
			if tok, err := store.Load(ctx, merchant); err == nil && ucoauth.Fingerprint(tok.AccessToken) == st.LastIssued {
				return true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// waitEqual waits, up to fleetHang, until got() == want().
func waitEqual(got, want func() int64) {
	deadline := time.Now().Add(fleetHang)
	for got() != want() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// assertGrantAlive checks that store ends on the newest token srv issued
// and that its refresh token is the live one: no rotated refresh token was
// lost. A newcomer whose clock says the token has expired refreshes it
// (synchronously, so nothing runs on after the test) and calls the API.
func assertGrantAlive(t *testing.T, srv *fositeserver.Server, cfg *oauth2.Config, store ucoauth.TokenStore) {
	t.Helper()
	tok, err := store.Load(t.Context(), merchant)
	require.NoError(t, err)
	before := srv.Stats()
	assert.Equal(t, before.LastIssued, ucoauth.Fingerprint(tok.AccessToken), "the store holds the newest generation")
	var clock skewedClock
	clock.add(time.Hour)
	src := ucoauth.NewTokenSource(cfg, store, merchant, ucoauth.WithClock(clock.now), generic(srv.URL))
	status, _, err := get(t, ucoauth.NewClient(t.Context(), src), srv.APIURL())
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status, "the stored refresh token is alive")
	after := srv.Stats()
	assert.Equal(t, before.Refreshes+1, after.Refreshes)
	assert.Equal(t, before.InvalidGrant(), after.InvalidGrant())
}

// refreshHook counts refreshes that returned a token, as one instance saw them.
func refreshHook(n *atomic.Int64) ucoauth.Option {
	return ucoauth.WithRefreshHook(func(e ucoauth.RefreshEvent) {
		if e.Token != nil {
			n.Add(1)
		}
	})
}

// rotationModes are the two ways a server may treat the previous access
// token when it rotates a refresh token.
var rotationModes = []struct {
	name string
	opts fositeserver.Options
}{
	// fosite's MemoryStore as it comes: the previous access token dies at
	// once, so holders that have not yet picked up the new token get 401s
	// until they do (or, with 401 recovery, retry after picking it up).
	{"fosite default rotation", fositeserver.Options{}},
	// The previous access token lives until it expires.
	{"old access tokens kept", fositeserver.Options{KeepAccessTokensOnRotation: true}},
}

// assertOneRefreshPerGeneration checks the server side of a ucoauth fleet
// that ran for elapsed: several generations, each refreshed exactly once
// (fosite's reuse detection turns any second refresh into invalid_grant),
// no refresh of a token that was still fresh, and no API call with an
// expired or unknown token. When the server keeps old access tokens, no API
// call at all was rejected.
func assertOneRefreshPerGeneration(t *testing.T, o fositeserver.Options, st fositeserver.Stats, elapsed time.Duration) {
	t.Helper()
	assert.Equal(t, 1, st.Exchanges)
	assert.GreaterOrEqual(t, st.Refreshes, fleetGenerations, "several token generations")
	assert.Zero(t, st.InvalidGrant(), "no refresh token was used twice: %v", st.TokenErrors)
	assert.Zero(t, st.ReuseDetected)
	assert.Empty(t, st.TokenErrors)
	// A token is refreshed only once it is stale, half its lifetime after it
	// was requested, so consecutive refreshes are at least half the shortest
	// lifetime apart. A slow machine only makes this looser.
	require.Positive(t, st.MinExpiresIn)
	half := time.Duration(st.MinExpiresIn) * time.Second / 2
	assert.LessOrEqual(t, st.Refreshes, int(elapsed/half)+1, "no fresh token was refreshed (%s elapsed)", elapsed)

	assert.Zero(t, st.APIExpired, "the API never saw an expired token")
	assert.Zero(t, st.APIUnknown, "the API never saw a token fosite did not issue")
	if o.KeepAccessTokensOnRotation {
		assert.Zero(t, st.APIRejected, "the API never saw a rejected token")
	}
}

// assertCallersSawNoRejection checks what the fleet's callers saw. With
// fosite's default rotation, a holder that has not yet picked up the new
// token is refused until it does; 401 recovery hides that from callers.
func assertCallersSawNoRejection(t *testing.T, tl *tally) {
	t.Helper()
	assert.Zero(t, tl.failed.Load(), "no call failed; first: %s", tl.firstError())
	assert.Positive(t, tl.ok.Load())
	assert.Zero(t, tl.rejected.Load(), "no caller saw a 401")
}

// TestFositeFleetVersusXOAuth2 runs two fleets of 8 token holders side by
// side, each against its own fosite with rotation and reuse detection:
//
//   - ucoauth: 8 Managers (as 8 processes would have), each over its own
//     tokenstore.File on one shared directory;
//   - bare x/oauth2: 8 oauth2.ReuseTokenSource instances starting from the
//     same token, as 8 processes would.
//
// Both call the API until the ucoauth fleet has gone through several token
// generations. ucoauth must make exactly one refresh per generation with no
// invalid_grant; x/oauth2's instances refresh on their own, fosite detects
// the reuse and kills the family. It runs once per rotation mode.
func TestFositeFleetVersusXOAuth2(t *testing.T) {
	for _, mode := range rotationModes {
		t.Run(mode.name, func(t *testing.T) { fleetVersusXOAuth2(t, mode.opts) })
	}
}

func fleetVersusXOAuth2(t *testing.T, o fositeserver.Options) {
	ucSrv, xSrv := newServerWith(t, o), newServerWith(t, o)
	ucCfg, xCfg := ucSrv.PostConfig(), xSrv.PostConfig()
	ctx, cancel := context.WithTimeout(t.Context(), fleetHang+30*time.Second)
	defer cancel()

	start := time.Now()
	ucTok := connect(t, ucSrv, ucCfg)
	xTok := connect(t, xSrv, xCfg)
	dir := filepath.Join(t.TempDir(), "tokens")
	seed, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	require.NoError(t, seed.Save(ctx, merchant, ucTok))

	var (
		stop      atomic.Bool
		wg        sync.WaitGroup
		uc, x     tally
		refreshes atomic.Int64
	)
	stopped := stop.Load
	for range fleetInstances {
		store, err := tokenstore.NewFile(dir)
		require.NoError(t, err)
		mgr := ucoauth.NewManager(ucCfg, store, refreshHook(&refreshes), generic(ucSrv.URL))
		hammer(ctx, &wg, ucoauth.NewClient(ctx, mgr.Source(merchant)), ucSrv.APIURL(), &uc, stopped)

		own := *xTok // each process has its own copy of the initial token
		src := oauth2.ReuseTokenSourceWithExpiry(&own, xCfg.TokenSource(ctx, &own), xEarlyExpiry)
		hammer(ctx, &wg, oauth2.NewClient(ctx, src), xSrv.APIURL(), &x, stopped)
	}
	reached := waitGenerations(ctx, ucSrv, seed, fleetGenerations)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	// Hooks run just after a refresh is saved.
	waitEqual(refreshes.Load, func() int64 { return int64(ucSrv.Stats().Refreshes) })

	ucSt, xSt := ucSrv.Stats(), xSrv.Stats()
	t.Logf("ucoauth:  %d token refreshes, %d invalid_grant, %d reuse detections; API %d ok, %d rejected (%d revoked at rotation); callers: %d failed, %d saw 401",
		ucSt.Refreshes, ucSt.InvalidGrant(), ucSt.ReuseDetected, ucSt.APIOK, ucSt.APIRejected, ucSt.APIRevoked, uc.failed.Load(), uc.rejected.Load())
	t.Logf("x/oauth2: %d token refreshes, %d invalid_grant, %d reuse detections; API %d ok, %d rejected; callers: %d failed, %d saw 401",
		xSt.Refreshes, xSt.InvalidGrant(), xSt.ReuseDetected, xSt.APIOK, xSt.APIRejected, x.failed.Load(), x.rejected.Load())
	t.Logf("both fleets: %d instances x %d callers for %s", fleetInstances, fleetCallers, elapsed.Round(time.Millisecond))
	require.True(t, reached, "the ucoauth fleet never reached %d generations: %v", fleetGenerations, ucSt.TokenErrors)

	// ucoauth: one refresh per generation, nothing failed.
	assertOneRefreshPerGeneration(t, o, ucSt, elapsed)
	assert.Equal(t, int64(ucSt.Refreshes), refreshes.Load(), "the instances' refresh hooks saw each refresh fosite saw, once")
	assertCallersSawNoRejection(t, &uc)
	assertGrantAlive(t, ucSrv, ucCfg, seed)

	// x/oauth2: the instances refreshed independently and fosite's reuse
	// detection killed the family.
	assert.Positive(t, xSt.ReuseDetected, "fosite caught x/oauth2 reusing a refresh token")
	assert.Positive(t, xSt.InvalidGrant())
	assert.Positive(t, x.failed.Load(), "x/oauth2's callers saw the dead grant")
	assert.Greater(t, xSt.InvalidGrant(), ucSt.InvalidGrant(), "the contrast: x/oauth2 > 0 invalid_grant, ucoauth 0")
}

// Environment of the child processes of TestFositeProcessesShareFileStore.
const (
	envChildDir  = "UCOAUTH_FOSITE_CHILD_DIR"
	envChildURL  = "UCOAUTH_FOSITE_CHILD_URL"
	envChildStop = "UCOAUTH_FOSITE_CHILD_STOP"
)

// fleetProcesses is how many OS processes share the file store.
const fleetProcesses = 4

// TestFositeProcessesShareFileStore is the fleet test with real OS
// processes: this test binary, re-run 4 times, each process with its own
// Manager over one shared token directory, calling the API against fosite
// through several token generations. Exactly one refresh per generation, no
// invalid_grant, no rejected API call.
func TestFositeProcessesShareFileStore(t *testing.T) {
	if dir := os.Getenv(envChildDir); dir != "" {
		fleetChild(t, dir, os.Getenv(envChildURL), os.Getenv(envChildStop))
		return
	}
	for _, mode := range rotationModes {
		t.Run(mode.name, func(t *testing.T) { processesShareFileStore(t, mode.opts) })
	}
}

func processesShareFileStore(t *testing.T, o fositeserver.Options) {
	srv := newServerWith(t, o)
	cfg := srv.PostConfig()
	start := time.Now()
	tok := connect(t, srv, cfg)
	dir := filepath.Join(t.TempDir(), "tokens")
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	require.NoError(t, store.Save(t.Context(), merchant, tok))
	stopFile := filepath.Join(t.TempDir(), "stop")

	type result struct{ ok, rejected, failed, refreshes int64 }
	results := make([]result, fleetProcesses)
	var wg sync.WaitGroup
	for i := range fleetProcesses {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFositeProcessesShareFileStore$", "-test.count=1")
		cmd.Env = append(os.Environ(), envChildDir+"="+dir, envChildURL+"="+srv.URL, envChildStop+"="+stopFile)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		wg.Go(func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				line := sc.Text()
				if v, ok := strings.CutPrefix(line, "RESULT "); ok {
					r := &results[i]
					_, err := fmt.Sscanf(v, "ok=%d rejected=%d failed=%d refreshes=%d", &r.ok, &r.rejected, &r.failed, &r.refreshes)
					assert.NoError(t, err, "child %d: %q", i, line)
				} else {
					t.Logf("child %d: %s", i, line)
				}
			}
			assert.NoError(t, cmd.Wait(), "child %d", i)
		})
	}
	reached := waitGenerations(t.Context(), srv, store, fleetGenerations)
	require.NoError(t, os.WriteFile(stopFile, nil, 0o600)) // stop the children either way
	wg.Wait()
	elapsed := time.Since(start)

	st := srv.Stats()
	var sum result
	for i, r := range results {
		assert.Positive(t, r.ok, "process %d made successful calls", i)
		sum.ok += r.ok
		sum.rejected += r.rejected
		sum.failed += r.failed
		sum.refreshes += r.refreshes
	}
	t.Logf("%d processes: %d token refreshes (%d reported by the processes), %d invalid_grant; API %d ok, %d rejected (%d revoked at rotation); callers: %d failed, %d saw 401; %s",
		fleetProcesses, st.Refreshes, sum.refreshes, st.InvalidGrant(), st.APIOK, st.APIRejected, st.APIRevoked, sum.failed, sum.rejected, elapsed.Round(time.Millisecond))
	require.True(t, reached, "the processes never reached %d generations: %v", fleetGenerations, st.TokenErrors)
	assertOneRefreshPerGeneration(t, o, st, elapsed)
	// A process's hook runs just after its refresh is saved, so one that
	// stopped in between may not have reported it yet.
	assert.LessOrEqual(t, sum.refreshes, int64(st.Refreshes), "no process reported a refresh fosite did not see")
	assertGrantAlive(t, srv, cfg, store)
	var tl tally
	tl.ok.Store(sum.ok)
	tl.rejected.Store(sum.rejected)
	tl.failed.Store(sum.failed)
	assertCallersSawNoRejection(t, &tl)
}

// fleetChild is one process of TestFositeProcessesShareFileStore: it calls
// the API until stopFile appears, then prints its counts.
func fleetChild(t *testing.T, dir, url, stopFile string) {
	store, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	var refreshes atomic.Int64
	mgr := ucoauth.NewManager(fositeserver.PostConfigAt(url), store, refreshHook(&refreshes), generic(url))
	ctx, cancel := context.WithTimeout(t.Context(), fleetHang+30*time.Second)
	defer cancel()
	var (
		wg sync.WaitGroup
		tl tally
	)
	stopped := func() bool {
		_, err := os.Stat(stopFile)
		return err == nil
	}
	hammer(ctx, &wg, ucoauth.NewClient(ctx, mgr.Source(merchant)), url+fositeserver.APIPath, &tl, stopped)
	wg.Wait()
	if s := tl.firstError(); s != "" {
		fmt.Printf("first error: %s\n", s)
	}
	fmt.Printf("RESULT ok=%d rejected=%d failed=%d refreshes=%d\n", tl.ok.Load(), tl.rejected.Load(), tl.failed.Load(), refreshes.Load())
	require.NoError(t, ctx.Err(), "the child was never told to stop")
}

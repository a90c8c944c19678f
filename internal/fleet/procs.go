package fleet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// SettledLifetime is how long the fake UltraCart's tokens live once every
// fleet process has stopped hammering (Spawn sets it): longer than any
// fleet's run, so that the first such token is the last one.
const SettledLifetime = time.Hour

// Settled reports whether a fleet process may report tok as its final
// token: it is the one the store holds, and it is a settled token, which no
// refresh replaces before every process has reported.
//
// A margin on a short token's remaining life ("still fresh for 700 ms") is
// not enough: on a loaded machine the reports of 8 processes spread over
// more than that, the token entered its early window between two of them,
// and the late process refreshed and reported the newer token, so that the
// parent found the others "on an older token".
func Settled(tok, stored *oauth2.Token) bool {
	return tok.AccessToken == stored.AccessToken && time.Until(stored.Expiry) > SettledLifetime/2
}

// Ready is a fleet process's first call: it waits until src serves a token
// (a few hundred tries at most), then prints READY for Spawn.
func Ready(src *ucoauth.TokenSource) {
	for range 500 {
		if _, err := src.Token(); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("READY")
}

// Report is what one fleet process reports (see Child): the fingerprint of
// its final token, its Token calls, those that failed, those told to
// reauthorize, and those that failed by their 5 s deadline alone (counted
// in Errs too).
type Report struct {
	Final                   string
	Calls, Errs, Dead, Slow int
}

// Lifetimer is a fake OAuth server whose tokens' lifetime can be set:
// ucoauthtest.Server, or squaretest.Server for a fleet of another provider.
type Lifetimer interface{ SetLifetime(time.Duration) }

// Spawn starts procs OS processes, each this test binary re-running
// testName with env added to the environment and its index in EnvChild
// (see ChildOptions), and returns the report each prints after prefix and
// a space (see Child). during, if set, runs in the
// parent once every child printed READY (see Ready): a loaded machine can
// take seconds to start 8 processes, and a store killed before they loaded
// the token would leave none of them holding it. Once every child has
// printed DONE (it stopped hammering), srv's tokens are made to live
// SettledLifetime and the children are told to report: each converges on
// the first such token (see Settled), which no refresh replaces before the
// last one reports. A report that is missing or malformed fails t and
// comes back zero.
func Spawn(t *testing.T, testName string, procs int, env []string, prefix string, srv Lifetimer, during func()) []Report {
	lines := make([][]string, procs)
	var wg, ready, done sync.WaitGroup
	var stdins []io.WriteCloser
	ready.Add(procs)
	done.Add(procs)
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^"+testName+"$", "-test.v")
		cmd.Env = append(append(os.Environ(), env...), EnvChild+"="+strconv.Itoa(i))
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		in, err := cmd.StdinPipe()
		require.NoError(t, err)
		stdins = append(stdins, in)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		wg.Go(func() {
			sc := bufio.NewScanner(out)
			sawReady, sawDone := false, false
			defer func() {
				if !sawReady {
					ready.Done()
				}
				if !sawDone {
					done.Done()
				}
			}()
			for sc.Scan() {
				if sc.Text() == "READY" && !sawReady {
					sawReady = true
					ready.Done()
				}
				if sc.Text() == "DONE" && !sawDone {
					sawDone = true
					done.Done()
				}
				if v, ok := strings.CutPrefix(sc.Text(), prefix+" "); ok {
					lines[i] = strings.Fields(v)
				}
			}
			assert.NoError(t, cmd.Wait(), "fleet process %d", i)
		})
	}
	ready.Wait() // every process holds a token: during meets a running fleet
	if during != nil {
		during()
	}
	done.Wait()
	srv.SetLifetime(SettledLifetime)
	for _, in := range stdins {
		_, _ = io.WriteString(in, "report\n")
		in.Close()
	}
	wg.Wait()
	reports := make([]Report, procs)
	for i, f := range lines {
		if !assert.Len(t, f, 5, "process %d's report", i) {
			continue
		}
		r := &reports[i]
		r.Final = f[0]
		for j, n := range []*int{&r.Calls, &r.Errs, &r.Dead, &r.Slow} {
			v, err := strconv.Atoi(f[j+1])
			assert.NoError(t, err, "process %d's report", i)
			*n = v
		}
	}
	return reports
}

// Child is a fleet process's part, after Ready: it calls src.TokenContext
// from 4 goroutines until until, each call bounded by 5 s, then prints
// DONE, waits for Spawn's go-ahead on stdin, keeps asking until src serves
// the token store holds and that token is Settled, and prints
// "prefix final calls errs dead slow" (see Report).
func Child(t *testing.T, prefix string, src *ucoauth.TokenSource, store ucoauth.TokenStore, key string, until time.Time) {
	var calls, errs, dead, slow atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for time.Now().Before(until) {
				// Generous: it only bounds a hang. A loaded machine can make a
				// caller wait out a whole refresh convoy.
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := src.TokenContext(ctx)
				cancel()
				calls.Add(1)
				if err != nil {
					if errs.Add(1) <= 3 {
						fmt.Fprintf(os.Stderr, "%s fleet process: error %s after its start: %v\n", prefix, time.Since(start).Round(time.Millisecond), err)
					}
					if errors.Is(err, context.DeadlineExceeded) {
						slow.Add(1)
					}
					if errors.Is(err, ucoauth.ErrReauthorizationRequired) {
						dead.Add(1)
					}
					time.Sleep(5 * time.Millisecond)
				}
				// A caller between API calls. Callers spinning on Token() would
				// starve the lock holder of 8 processes on 2 cores, until the
				// others' lock waits time out: a load no fleet produces.
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	fmt.Println("DONE")
	_, err := bufio.NewReader(os.Stdin).ReadString('\n') // the parent's go-ahead
	require.NoError(t, err)

	// Converge: keep asking until this process holds what the store holds,
	// and that is a settled token, which no refresh replaces before every
	// process has reported it.
	var final string
	require.Eventually(t, func() bool {
		tok, err := src.Token()
		stored, serr := store.Load(context.Background(), key)
		if err != nil || serr != nil {
			return false
		}
		final = ucoauth.Fingerprint(tok.AccessToken)
		return Settled(tok, stored)
	}, 15*time.Second, 20*time.Millisecond, "never converged on the stored token")
	fmt.Printf("%s %s %d %d %d %d\n", prefix, final, calls.Load(), errs.Load(), dead.Load(), slow.Load())
}

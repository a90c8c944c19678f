package ucoauth

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// nopStore holds nothing; the test needs no I/O.
type nopStore struct{}

func (nopStore) Load(context.Context, string) (*oauth2.Token, error) { return nil, ErrTokenNotFound }
func (nopStore) Save(context.Context, string, *oauth2.Token) error   { return nil }
func (nopStore) Delete(context.Context, string) error                { return nil }

// TestCloseWaitsForSourcesASweepEvicted: a sweep (run by a Source call)
// evicts an idle source whose background work is still winding down, and
// Close runs right then, from another goroutine. Close must still wait for
// that work: nothing the Manager started may outlive its Close.
func TestCloseWaitsForSourcesASweepEvicted(t *testing.T) {
	now := time.Now()
	m := NewManager(&oauth2.Config{}, nopStore{}, WithClock(func() time.Time { return now }), WithIdleTimeout(time.Minute))
	release := make(chan struct{})
	finished := make(chan struct{})
	m.Source("idle").spawn(func(stop <-chan struct{}) {
		<-stop
		<-release // a last save attempt, slow to answer
		close(finished)
	})
	now = now.Add(2 * time.Minute)

	closed := make(chan struct{})
	testHookSwept = func() {
		testHookSwept = nil
		go func() {
			m.Close()
			close(closed)
		}()
		select { // give Close time to return, if it wrongly can
		case <-closed:
		case <-time.After(time.Second):
		}
	}
	t.Cleanup(func() { testHookSwept = nil })
	evicted := false
	for i := 0; !evicted && i < 10000; i++ {
		m.Source(string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)))
		evicted = testHookSwept == nil
	}
	require.True(t, evicted, "precondition: a sweep evicted the idle source")
	select {
	case <-closed:
		assert.Fail(t, "Close returned while an evicted source's work was still running")
	default:
	}
	close(release)
	<-closed
	select {
	case <-finished:
	default:
		assert.Fail(t, "Close returned before the evicted source's work finished")
	}
}

package ucoauth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// The cold start's store deadline: a store that waits on the context is
// cut off at the refresh timeout, and one that never asks costs no timer.
func TestColdStartDeadlineEndsAHungLoad(t *testing.T) {
	store := hangingStore{}
	src := NewTokenSource(&oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: "https://127.0.0.1/oauth/token"}}, store, "k",
		WithRefreshTimeout(50*time.Millisecond))
	defer src.Close()
	_, err := src.Token() // no deadline of its own: the inline cold start
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var se *StoreError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "load", se.Op)
}

func TestColdStartDeadlineStartsNoTimerUnlessAsked(t *testing.T) {
	var l loadDeadline
	l.start(time.Hour, 0)
	d, ok := l.Deadline()
	assert.True(t, ok)
	assert.WithinDuration(t, time.Now().Add(time.Hour), d, time.Minute)
	assert.NoError(t, l.Err())
	l.stop()
	assert.Nil(t, l.timer, "nobody asked for Done: no timer")
	assert.Nil(t, l.Done(), "after stop, Done never closes")

	var m loadDeadline
	m.start(time.Millisecond, 0)
	<-m.Done()
	assert.ErrorIs(t, m.Err(), context.DeadlineExceeded)
	m.stop()
	assert.Equal(t, m.Done(), m.Done(), "the same channel every time")
}

func TestFlightChannelIsMadeOnlyForWaiters(t *testing.T) {
	var c cache
	c.mu.Lock()
	f := c.beginLocked()
	assert.True(t, c.busy.Load())
	c.endLocked(f, nil, errors.New("x")) // unlocks
	assert.Nil(t, f.done, "nobody waited: no channel")
	c.mu.Lock()
	select {
	case <-c.doneLocked(f):
	default:
		t.Fatal("a flight that ended reads as done")
	}
	g := c.beginLocked()
	done := c.doneLocked(g)
	st := &state{tok: &oauth2.Token{AccessToken: "AT"}, stale: 10, expire: 20}
	c.endLocked(g, st, nil)
	<-done
	tok, err := g.wait(context.Background(), done, 0, "k")
	require.NoError(t, err)
	assert.Equal(t, "AT", tok.AccessToken)
	assert.False(t, c.busy.Load())
}

// hangingStore's Load waits for its context.
type hangingStore struct{}

func (hangingStore) Load(ctx context.Context, _ string) (*oauth2.Token, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (hangingStore) Save(context.Context, string, *oauth2.Token) error { return nil }
func (hangingStore) Delete(context.Context, string) error              { return nil }

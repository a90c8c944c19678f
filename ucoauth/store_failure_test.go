package ucoauth_test

// A store that reports its record corrupt, or refuses every save, must
// neither cost the caller its token nor start a retry loop.

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// corruptStore answers Load with a corrupt-record error while corrupt is
// set; a successful Save replaces the record, as the stores do. saveErr,
// when set, makes every Save fail with it.
type corruptStore struct {
	ucoauth.TokenStore
	corrupt atomic.Bool
	saveErr error
	saves   atomic.Int32
}

func (c *corruptStore) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	if c.corrupt.Load() {
		return nil, fmt.Errorf("%w: not JSON (12 bytes)", tokenstore.ErrCorrupt)
	}
	return c.TokenStore.Load(ctx, key)
}

func (c *corruptStore) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	c.saves.Add(1)
	if c.saveErr != nil {
		return c.saveErr
	}
	if err := c.TokenStore.Save(ctx, key, tok); err != nil {
		return err
	}
	c.corrupt.Store(false)
	return nil
}

// TestCorruptRecordIsReplacedByARefreshFromMemory: the stored record went
// bad while the source holds a good refresh token in memory: refresh from
// memory and save, replacing the record.
func TestCorruptRecordIsReplacedByARefreshFromMemory(t *testing.T) {
	f := newFixture(t, time.Hour)
	cs := &corruptStore{TokenStore: f.store}
	var logs logBuffer
	src := ucoauth.NewTokenSource(f.cfg, cs, "m", ucoauth.WithClock(f.clock.Now), ucoauth.WithLogger(logs.logger()))
	defer src.Close()
	_, err := src.Token()
	require.NoError(t, err)
	cs.corrupt.Store(true)
	f.clock.Advance(2 * time.Hour)

	tok, err := src.Token()
	require.NoError(t, err, "refreshed from memory despite the corrupt record")
	assert.NotEqual(t, f.tok.AccessToken, tok.AccessToken)
	assert.False(t, cs.corrupt.Load(), "the save replaced the record")
	stored, err := cs.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, tok.RefreshToken, stored.RefreshToken)
	assert.Equal(t, 1, logs.count("WARN", "replaced an unreadable stored record"))
}

// TestPermanentSaveFailureKeepsTheTokenWithoutARetryLoop: a store that
// refuses the save for good (it read the record, but will not take the new
// one): the refreshed token is served from memory, the failure logged at
// error level, and the save not retried in a loop. (A record the store
// cannot read and will not replace is not refreshed over at all: see
// TestUnreadableRecordTheStoreKeepsIsNotRefreshedOver.)
func TestPermanentSaveFailureKeepsTheTokenWithoutARetryLoop(t *testing.T) {
	f := newFixture(t, time.Hour)
	cs := &corruptStore{TokenStore: f.store, saveErr: fmt.Errorf("%w: unsupported version 9 (this build reads 1)", tokenstore.ErrCorrupt)}
	var logs logBuffer
	src := ucoauth.NewTokenSource(f.cfg, cs, "m", ucoauth.WithClock(f.clock.Now), ucoauth.WithLogger(logs.logger()),
		ucoauth.WithBackoff(time.Millisecond, 10*time.Millisecond))
	defer src.Close()
	_, err := src.Token()
	require.NoError(t, err)
	f.clock.Advance(2 * time.Hour)

	tok, err := src.Token()
	require.NoError(t, err)
	assert.NotEqual(t, f.tok.AccessToken, tok.AccessToken)
	time.Sleep(200 * time.Millisecond) // a retry loop at 1-10 ms would show
	assert.Equal(t, int32(1), cs.saves.Load(), "a permanent refusal is not retried")
	assert.Equal(t, 1, logs.count("ERROR", "for good"))
	for range 10 {
		got, err := src.Token()
		require.NoError(t, err)
		assert.Equal(t, tok.AccessToken, got.AccessToken, "served from memory")
	}
}

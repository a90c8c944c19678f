package redisstore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/fleet"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// TestRedisSentinelFailoverFleet: 4 OS processes share one merchant through
// a master and a replica behind a Sentinel, with rotation on and 2 s
// tokens, while the Sentinel fails the master over 3 times. Saves and locks
// wait for the replica, so no failover loses a rotated refresh token: 0
// invalid_grant, and the fleet converges on a live token.
func TestRedisSentinelFailoverFleet(t *testing.T) {
	if isFleetChild() {
		fleetChild(t)
		return
	}
	sn := redistest.StartSentinel(t)
	store := redisstore.New(sn.Client(t))
	env := []string{envFleetSentinel + "=" + sn.Sentinel.Addr, envFleetMaster + "=" + sn.MasterName}
	const failovers = 3
	var done int
	srv, results := runFleetOn(t, "TestRedisSentinelFailoverFleet", 4, 4*fleetLifetime, env, store, func(tr *fleet.Trace) {
		for range failovers {
			time.Sleep(fleetLifetime / 2)
			tr.Mark("failover")
			sn.Failover(t)
			done++
		}
	})
	require.Equal(t, failovers, done)
	st := srv.Stats()
	t.Logf("failovers: %d; refreshes: %d", done, st.Refreshes())
	assert.GreaterOrEqual(t, st.Refreshes(), 2, "refreshes happened around the failovers")
	assert.Zero(t, st.InvalidGrant, "no failover lost a rotated refresh token")
	checkConverged(t, store, results)

	stored, err := store.Load(t.Context(), "DEMO")
	require.NoError(t, err)
	skewed := func() time.Time { return time.Now().Add(time.Hour) }
	mem := tokenstore.NewMemory()
	require.NoError(t, mem.Save(t.Context(), "DEMO", stored))
	_, err = ucoauth.NewTokenSource(srv.Config(), mem, "DEMO", ucoauth.WithClock(skewed)).Token()
	assert.NoError(t, err, "the stored refresh token is live after the failovers: no save was lost")
}

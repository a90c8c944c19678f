package main

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/fleet"
	"github.com/ucoauth/go-ucoauth/internal/redistest"
)

func TestFleetRefreshesOncePerWindowWhereBareXOAuth2Fails(t *testing.T) {
	rs := redistest.Start(t)
	newClient := func() redis.UniversalClient { return rs.TestClient(t) }
	const lifetime = 2 * time.Second
	p := fleet.Params{Instances: 4, Lifetime: lifetime, Every: 20 * time.Millisecond, Duration: 2*lifetime + lifetime/4}
	ours, bare, err := run(p, newClient)
	require.NoError(t, err)
	t.Logf("go-ucoauth %+v, x/oauth2 %+v", ours, bare)
	assert.Zero(t, ours.InvalidGrant)
	assert.Zero(t, ours.FailedCalls)
	// Refreshes come every lifetime less the early window, 1.5 s: 3 in 4.5 s.
	assert.GreaterOrEqual(t, ours.Requests, 2)
	assert.LessOrEqual(t, ours.Requests, 3, "one refresh per window for the whole fleet")
	assert.Positive(t, bare.InvalidGrant, "bare x/oauth2 instances kill each other's refresh tokens")
	assert.Greater(t, bare.Requests, ours.Requests)
}

package main

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/ucoauth/go-ucoauth/internal/redistest"
)

func TestFleetRefreshesOncePerWindowWhereBareXOAuth2Fails(t *testing.T) {
	rs := redistest.Start(t)
	newClient := func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: rs.Addr}) }
	const lifetime, windows = 2 * time.Second, 2
	d := windows*lifetime + lifetime/4
	ours := runUcoauth(newClient, 4, lifetime, d)
	bare := runBare(4, lifetime, d)
	t.Logf("go-ucoauth %+v, x/oauth2 %+v", ours, bare)
	assert.Zero(t, ours.invalid)
	assert.Zero(t, ours.failed)
	assert.GreaterOrEqual(t, ours.requests, windows)
	assert.LessOrEqual(t, ours.requests, windows+1, "one refresh per window for the whole fleet")
	assert.Positive(t, bare.invalid, "bare x/oauth2 instances kill each other's refresh tokens")
	assert.Greater(t, bare.requests, ours.requests)
}

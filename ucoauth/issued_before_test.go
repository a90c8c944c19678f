package ucoauth

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"golang.org/x/oauth2"
)

// TestIssuedBeforeSaturates: a store of one's own may hold any expires_in;
// the issue time is computed without overflow, so a token granted an
// absurd lifetime never passes for one issued later than it was.
func TestIssuedBeforeSaturates(t *testing.T) {
	now := time.Now()
	absurd := &oauth2.Token{AccessToken: "a", Expiry: now.Add(time.Hour), ExpiresIn: math.MaxInt64}
	recent := &oauth2.Token{AccessToken: "b", Expiry: now.Add(30 * time.Minute), ExpiresIn: 1800}
	assert.True(t, issuedBefore(absurd, recent), "issued at most MaxLifetime before its expiry: before the recent token")
	assert.False(t, issuedBefore(recent, absurd))
}

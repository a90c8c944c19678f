package square_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/ucoauth/go-ucoauth/square"
)

func TestRefreshByAgePolicy(t *testing.T) {
	day := 24 * time.Hour
	assert.Equal(t, 7*day, square.RefreshEvery)
	assert.Equal(t, 8*day, square.StaleAfter)
	last := t0
	exp := t0.Add(square.AccessTokenLifetime)
	for _, c := range []struct {
		name      string
		last, now time.Time
		expiry    time.Time
		due       bool
	}{
		{"fresh", last, last.Add(day), exp, false},
		{"just under 7 days", last, last.Add(7*day - time.Second), exp, false},
		{"7 days", last, last.Add(7 * day), exp, true},
		{"never refreshed", time.Time{}, last, exp, true},
		{"short-lived near expiry", last, last.Add(22 * time.Hour), last.Add(square.ShortLivedLifetime), true},
		{"short-lived early", last, last.Add(time.Hour), last.Add(square.ShortLivedLifetime), false},
		{"unknown expiry, young", last, last.Add(day), time.Time{}, false},
	} {
		assert.Equal(t, c.due, square.DueForRefresh(c.last, c.expiry, c.now), c.name)
	}
	assert.False(t, square.IsStale(last, last.Add(8*day-time.Second)))
	assert.True(t, square.IsStale(last, last.Add(8*day)))
	assert.False(t, square.IsStale(time.Time{}, last), "no refresh yet: the age is unknown, not infinite")
}

package ucoauth

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// policyProvider is UltraCart's provider stating pol as its RefreshPolicy.
type policyProvider struct {
	Provider
	pol RefreshPolicy
}

func (p policyProvider) Policy() RefreshPolicy { return p.pol }

// hostilePolicies are a provider's RefreshPolicy at the edges: negative,
// tiny and huge durations.
var hostilePolicies = map[string]RefreshPolicy{
	"tiny age":        {MaxLifetime: 30 * 24 * time.Hour, RefreshAfterAge: time.Nanosecond, StaleAfter: time.Nanosecond},
	"age below min":   {MaxLifetime: time.Hour, RefreshAfterAge: MinLifetime / 2},
	"negative":        {MaxLifetime: math.MinInt64, RefreshAfterAge: -time.Hour, StaleAfter: math.MinInt64},
	"huge":            {MaxLifetime: math.MaxInt64, RefreshAfterAge: math.MaxInt64, StaleAfter: math.MaxInt64},
	"huge lifetime":   {MaxLifetime: math.MaxInt64, RefreshAfterAge: time.Nanosecond},
	"age past expiry": {MaxLifetime: MinLifetime, RefreshAfterAge: math.MaxInt64 - 1},
}

// No RefreshPolicy makes a token stale as it is issued: a refresh by age
// comes at least MinLifetime after the token was issued (or the early
// window first), so that every refresh is not followed by another at
// once, a refresh loop as fast as callers call. The bounded policy stays
// within the engine's limits, whatever the provider says.
func TestHostileRefreshPolicyCannotMakeATokenStaleAtBirth(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for name, hostile := range hostilePolicies {
		t.Run(name, func(t *testing.T) {
			pol := policyOf(policyProvider{Provider: UltraCart(), pol: hostile})
			assert.GreaterOrEqual(t, pol.MaxLifetime, MinLifetime)
			assert.LessOrEqual(t, pol.MaxLifetime, MaxProviderLifetime)
			assert.True(t, pol.RefreshAfterAge == 0 || pol.RefreshAfterAge >= MinLifetime, "age %v", pol.RefreshAfterAge)
			assert.GreaterOrEqual(t, pol.StaleAfter, time.Duration(0))

			lt := lifetimes{early: 5 * time.Minute, max: pol.MaxLifetime, age: pol.RefreshAfterAge}
			g := pol.MaxLifetime
			tok := &oauth2.Token{AccessToken: "at", Expiry: now.Add(g), ExpiresIn: int64(g / time.Second)}
			st := newState(tok, now, lt)
			require.True(t, st.validAt(now), "a token just issued is valid")
			// Fresh for at least a second, as the early window's cap at
			// half the lifetime guarantees for the shortest one.
			assert.True(t, st.freshAt(now.Add(time.Second-time.Nanosecond)), "fresh just after it was issued; stale at %v",
				time.Unix(0, st.stale).Sub(now))
		})
	}
}

// Overdue is a saturating comparison: a served token issued before 1678
// (its expiry and granted lifetime out of int64 nanoseconds: a
// hand-edited record) is overdue under any StaleAfter, not wrapped
// around to "just issued".
func TestOverdueSaturates(t *testing.T) {
	now := unixNanos(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	ancient := time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)
	assert.True(t, overdue(ancient, now, 8*24*time.Hour), "issued in 1500")
	assert.True(t, overdue(ancient, now, math.MaxInt64-1), "issued in 1500, StaleAfter ~292 years")
	assert.False(t, overdue(time.Unix(0, now), now, 8*24*time.Hour), "issued now")
	assert.False(t, overdue(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), now, time.Nanosecond), "issued in the future")
	assert.False(t, overdue(ancient, now, 0), "no StaleAfter: never")
	assert.True(t, overdue(time.Unix(0, now).Add(-8*24*time.Hour), now, 8*24*time.Hour), "exactly StaleAfter old")
}

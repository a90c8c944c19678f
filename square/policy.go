package square

import "time"

// Square's advice on refreshing: by age, long before the 30-day expiry, so
// that a failing refresh is noticed while there is time to fix it.
const (
	// RefreshEvery is the longest a token should go without a refresh.
	RefreshEvery = 7 * 24 * time.Hour
	// StaleAfter is the age of the last successful refresh past which the
	// merchant should raise an alert: refreshes have been failing.
	StaleAfter = 8 * 24 * time.Hour
)

// DueForRefresh reports whether a token last refreshed (or obtained) at
// lastRefresh and expiring at expiry should be refreshed at now: once
// [RefreshEvery] has passed, or when less than a tenth of the access
// token's lifetime remains. A zero lastRefresh is always due.
func DueForRefresh(lastRefresh, expiry, now time.Time) bool {
	if lastRefresh.IsZero() || !now.Before(lastRefresh.Add(RefreshEvery)) {
		return true
	}
	if expiry.IsZero() {
		return false
	}
	return expiry.Sub(now) < expiry.Sub(lastRefresh)/10
}

// IsStale reports whether a merchant whose last successful refresh was at
// lastSuccess should raise Square's alert at now: [StaleAfter] or more
// without one. A zero lastSuccess (never refreshed) is not stale: its age
// is unknown, and the token's own issue time is the caller's to pass.
func IsStale(lastSuccess, now time.Time) bool {
	return !lastSuccess.IsZero() && now.Sub(lastSuccess) >= StaleAfter
}

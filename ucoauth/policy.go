package ucoauth

import (
	"time"

	"golang.org/x/oauth2"
)

// MaxProviderLifetime is the longest lifetime a [RefreshPolicy] may grant a
// token, and the bound past which a store distrusts an expiry (a year-3000
// record was edited by hand, not granted).
const MaxProviderLifetime = 90 * 24 * time.Hour

// RefreshPolicy is how a provider's tokens age: how long the engine trusts
// a lifetime the server grants, how old a token may grow before it is
// refreshed whatever its expiry, when [Status] calls it overdue, and which
// of its extras are kept. A [Provider] states it with a method
//
//	Policy() ucoauth.RefreshPolicy
//
// which the engine looks for; a provider without one gets the zero policy,
// which is UltraCart's.
type RefreshPolicy struct {
	// MaxLifetime caps the lifetime the server grants. Zero is
	// [MaxLifetime]; it is at most [MaxProviderLifetime].
	MaxLifetime time.Duration
	// RefreshAfterAge refreshes a token this long after it was issued,
	// long before its expiry, so that a failing refresh is noticed while
	// the token still works. Zero refreshes only before expiry; a
	// shorter one than [MinLifetime] counts as MinLifetime.
	RefreshAfterAge time.Duration
	// StaleAfter is the age past which [Status] reports the served token
	// Overdue: refreshes have been failing for too long. Zero never.
	StaleAfter time.Duration
	// Extras names the token extras (oauth2.Token.Extra) the engine keeps
	// beside scope and grant ID: through Exchange, each refresh (a refresh
	// answer without one keeps the old value) and the stores, as strings.
	// They are stored and logged in the clear, so never a secret; at most
	// 8 of them, names of at most 64 bytes, each value cut at 16 KiB.
	Extras []string
}

// lifetimes is what a token's deadlines depend on (see newState).
type lifetimes struct {
	early time.Duration // refresh this long before expiry
	max   time.Duration // trust no lifetime longer
	age   time.Duration // refresh a token this old; 0 never
}

// granted is the lifetime t was granted, within lt.max, or 0 when unknown.
func (lt lifetimes) granted(t *oauth2.Token) time.Duration {
	if t.ExpiresIn <= 0 {
		return 0
	}
	return time.Duration(min(t.ExpiresIn, int64(lt.max/time.Second))) * time.Second
}

// keptExtras reads the extras pol names from tok, a provider's answer, as
// strings scrubbed of the call's secrets (a server echoing the request
// would put them there). Missing ones are taken from base, the token
// refreshed (nil for a new authorization).
func keptExtras(pol RefreshPolicy, tok, base *oauth2.Token, red *redactor) map[string]string {
	if len(pol.Extras) == 0 {
		return nil
	}
	old := ProviderExtras(base)
	m := make(map[string]string, len(pol.Extras))
	for _, k := range pol.Extras {
		if s, ok := extraString(tok.Extra(k)); ok && s != "" {
			m[k] = red.scrubPrefix(s, maxScrubText)
		} else if v, ok := old[k]; ok {
			m[k] = v
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

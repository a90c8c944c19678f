package ucoauth

import (
	"strconv"
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

// maxExtras bounds how many extras a token keeps.
const maxExtras = 8

// policyOf returns p's policy, bounded.
func policyOf(p Provider) RefreshPolicy {
	pp, ok := p.(interface{ Policy() RefreshPolicy })
	if !ok {
		return RefreshPolicy{MaxLifetime: MaxLifetime}
	}
	pol := pp.Policy()
	if pol.MaxLifetime <= 0 {
		pol.MaxLifetime = MaxLifetime
	}
	pol.MaxLifetime = min(max(pol.MaxLifetime, MinLifetime), MaxProviderLifetime)
	pol.RefreshAfterAge = max(pol.RefreshAfterAge, 0)
	if pol.RefreshAfterAge > 0 {
		// A token stale as it is issued would be refreshed again at
		// once, as fast as callers call.
		pol.RefreshAfterAge = max(pol.RefreshAfterAge, MinLifetime)
	}
	pol.StaleAfter = max(pol.StaleAfter, 0)
	var names []string
	for _, k := range pol.Extras {
		// The engine's own extras are not the provider's to keep.
		if !reservedExtra(k) && len(k) <= 64 && len(names) < maxExtras {
			names = append(names, k)
		}
	}
	pol.Extras = names
	return pol
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

// extrasKey is the extra under which a token carries its kept extras, so
// that a store can find them (oauth2.Token cannot list its extras).
const extrasKey = "ucoauth_extras"

// ProviderExtras returns the extras tok keeps for its provider (see
// [RefreshPolicy].Extras), or nil. A store saves them with the token and
// gives them back with [WithProviderExtras].
func ProviderExtras(tok *oauth2.Token) map[string]string {
	if tok == nil {
		return nil
	}
	m, _ := tok.Extra(extrasKey).(map[string]string)
	return m
}

// WithProviderExtras returns a copy of tok that carries tok's scope and
// grant ID and the extras m (none when m is empty), each readable with
// tok.Extra(name) as well.
func WithProviderExtras(tok *oauth2.Token, m map[string]string) *oauth2.Token {
	return withAllExtras(tok, scopeOf(tok), GrantID(tok), m)
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

// extraString states an extra as a string: JSON's strings, booleans and
// numbers, and a time as RFC 3339.
func extraString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano), true
	}
	return "", false
}

// mergedExtras is tok's provider extras, with base's for those it lacks.
func mergedExtras(tok, base *oauth2.Token) map[string]string {
	now, old := ProviderExtras(tok), ProviderExtras(base)
	if len(old) == 0 {
		return now
	}
	m := make(map[string]string, len(now)+len(old))
	for k, v := range old {
		if _, ok := now[k]; !ok && len(m)+len(now) < maxExtras {
			m[k] = v
		}
	}
	for k, v := range now {
		m[k] = v
	}
	return m
}

// reservedExtra reports a name no provider extra may have: the engine's
// own extras, and none.
func reservedExtra(k string) bool {
	return k == "" || k == "scope" || k == GrantExtra || k == extrasKey
}

package ucoauth

// The extras a token carries beside its access and refresh tokens: scope,
// the grant ID and a provider's kept extras, as the stores keep them.

import (
	"strconv"
	"time"

	"golang.org/x/oauth2"
)

// GrantExtra is the token extra (oauth2.Token.Extra) that names the grant a
// token belongs to: a random ID that [Exchange] and [DeviceAccessToken]
// give every new authorization and that every refresh by a [TokenSource]
// carries forward. The stores keep it, in the clear (it is no secret: it
// authorizes nothing), so that a tombstone can name the grant it revoked
// and still let a new authorization in. A token without it (saved by an
// earlier version, or obtained by other means) belongs to the "legacy"
// grant, named by the empty ID.
const GrantExtra = "ucoauth_grant"

// GrantID returns the grant ID tok carries (see [GrantExtra]), or "" when
// it carries none.
func GrantID(tok *oauth2.Token) string {
	if tok == nil {
		return ""
	}
	id, _ := tok.Extra(GrantExtra).(string)
	return id
}

// withExtras returns a copy of t whose extras are scope, grant ID and t's
// provider extras, each only when set.
func withExtras(t *oauth2.Token, scope, grant string) *oauth2.Token {
	return withAllExtras(t, scope, grant, ProviderExtras(t))
}

// withAllExtras returns a copy of t whose extras are scope, grant ID and
// the provider extras kept, each only when set; a kept extra is readable
// by its own name too.
func withAllExtras(t *oauth2.Token, scope, grant string, kept map[string]string) *oauth2.Token {
	extra := map[string]any{}
	var clean map[string]string // made only for a provider that keeps extras
	for k, v := range kept {
		if !reservedExtra(k) { // a stored record may name anything
			if clean == nil {
				clean = make(map[string]string, len(kept))
			}
			extra[k], clean[k] = v, v
		}
	}
	if len(clean) > 0 {
		extra[extrasKey] = clean
	}
	if scope != "" {
		extra["scope"] = scope
	}
	if grant != "" {
		extra[GrantExtra] = grant
	}
	c := *t
	if len(extra) == 0 {
		return c.WithExtra(nil)
	}
	return c.WithExtra(extra)
}

// maxExtras bounds how many extras a token keeps.
const maxExtras = 8

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

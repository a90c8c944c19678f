// Package record is the versioned JSON record that every token store of
// this repository keeps (tokenstore's memory and file stores, redisstore,
// sqlstore): encoding, the merge rule every Save applies, tombstones, and
// the errors they report. tokenstore re-exports the errors; the rest is
// internal so that the format can change without an API change.
package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ucoauth/go-ucoauth/internal/redact"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// Version is the latest version of the JSON record, which this
// build reads and writes. Version 1 is a token. Version 2 adds revocations
// (see TombstoneRetention): a tombstone, or a token saved within the
// retention after a revoke, which carries the revoked grants. Marshal, and
// every store, writes a token that carries no revocation as version 1, so
// that builds from before tombstones keep reading it; they refuse a
// version-2 record (ErrNewerFormat), and so never overwrite a tombstone.
// Unmarshal reads versions 1 and 2; see ErrNewerFormat for what happens to
// a record written by a later one.
const Version = 2

// tokenVersion is the version of a record that carries no revocation.
const tokenVersion = 1

// clockSkew is how far a stored expiry may lie beyond ucoauth.MaxProviderLifetime
// from now and still be trusted: hosts sharing a store disagree a little
// about the time.
const clockSkew = 5 * time.Minute

// untrustedExpiry is the expiry Unmarshal gives a token whose stored expiry
// is too far ahead to be real. It is long past, so the token is refreshed
// before it is used and any real token replaces it; it is not zero, which
// oauth2 reads as "never expires".
var untrustedExpiry = time.Unix(0, 0).UTC()

// Errors shared by the stores. None is temporary: retrying cannot fix them.
var (
	// ErrCorrupt means a stored record could not be read. The record is left
	// in place for inspection and is never replaced by an empty token; Save
	// of a real token replaces it.
	ErrCorrupt error = Permanent("tokenstore: corrupt token record")
	// ErrNewerFormat means a stored record was written by a later version of
	// the record format, by a newer build sharing the store. This build can
	// neither read it nor overwrite it: overwriting would throw away the
	// refresh token it holds. Upgrade every reader before any writer.
	ErrNewerFormat error = Permanent("tokenstore: token record written by a newer format version")
	// ErrInvalidKey means the key is empty or not valid UTF-8 (the record
	// is JSON, which cannot keep other bytes).
	ErrInvalidKey error = Permanent("tokenstore: invalid key")
	// ErrInvalidToken means Save was given a token it cannot store: none, no
	// access token, a field that is not valid UTF-8, or an expiry outside
	// the years 0 to 9999.
	ErrInvalidToken error = Permanent("tokenstore: invalid token")
)

// Permanent is an error that says retrying will not help, so that a
// ucoauth.StoreError wrapping it is not Temporary.
type Permanent string

// Error returns the message.
func (p Permanent) Error() string { return string(p) }

// Temporary is false: retrying cannot help.
func (Permanent) Temporary() bool { return false }

// record is the stored form. The key is kept so that a file can be checked
// against the key it was loaded for.
type record struct {
	Version      int       `json:"version"`
	Key          string    `json:"key"`
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	ExpiresIn    int64     `json:"expires_in,omitempty"` // the lifetime granted, in seconds
	Scope        string    `json:"scope,omitempty"`
	Grant        string    `json:"grant,omitempty"` // ucoauth.GrantID; version 1 readers ignore it
	// Extras are the provider's kept extras (ucoauth.ProviderExtras), such
	// such as a merchant's ID; version 1 readers ignore them.
	Extras map[string]string `json:"extras,omitempty"`
	// Revoked (version 2) lists the grants revoked within the retention. A
	// record with it and no access token is a tombstone.
	Revoked []Revocation `json:"revoked,omitempty"`
}

// Marshal encodes tok as the versioned JSON record that the file and Redis
// stores keep, including its scope. It
// refuses a key CheckKey refuses (ErrInvalidKey) and a token it could not
// read back exactly (ErrInvalidToken).
func Marshal(key string, tok *oauth2.Token) ([]byte, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	if err := checkToken(tok); err != nil {
		return nil, err
	}
	return marshalRecord(key, tok, nil)
}

// marshalRecord encodes tok with the revocations it carries: a version-1
// record when there are none.
func marshalRecord(key string, tok *oauth2.Token, revoked []Revocation) ([]byte, error) {
	scope, _ := tok.Extra("scope").(string)
	v := tokenVersion
	if len(revoked) > 0 {
		v = Version
	}
	b, err := json.Marshal(record{
		Version:      v,
		Key:          key,
		AccessToken:  tok.AccessToken,
		TokenType:    tok.TokenType,
		RefreshToken: tok.RefreshToken,
		Expiry:       tok.Expiry,
		ExpiresIn:    tok.ExpiresIn,
		Scope:        scope,
		Grant:        ucoauth.GrantID(tok),
		Extras:       ucoauth.ProviderExtras(tok),
		Revoked:      revoked,
	})
	if err != nil { // unreachable after checkToken; never echo the token
		return nil, fmt.Errorf("%w: cannot encode it", ErrInvalidToken)
	}
	return b, nil
}

// checkToken says why tok cannot be stored, without quoting its secrets.
func checkToken(tok *oauth2.Token) error {
	if tok == nil {
		return fmt.Errorf("%w: no token", ErrInvalidToken)
	}
	if tok.AccessToken == "" {
		return fmt.Errorf("%w: no access token", ErrInvalidToken)
	}
	scope, _ := tok.Extra("scope").(string)
	if len(ucoauth.GrantID(tok)) > MaxGrantLen {
		return fmt.Errorf("%w: its grant ID is longer than %d bytes", ErrInvalidToken, MaxGrantLen)
	}
	if err := checkExtras(ucoauth.ProviderExtras(tok)); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	for _, f := range [...]struct{ name, v string }{
		{"access token", tok.AccessToken},
		{"refresh token", tok.RefreshToken},
		{"token type", tok.TokenType},
		{"scope", scope},
		{"grant ID", ucoauth.GrantID(tok)},
	} {
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("%w: its %s is not valid UTF-8", ErrInvalidToken, f.name)
		}
	}
	if y := tok.Expiry.Year(); y < 0 || y > 9999 {
		return fmt.Errorf("%w: its expiry is outside the years 0 to 9999", ErrInvalidToken)
	}
	return nil
}

// Unmarshal decodes a record written by Marshal for key.
//
// A record of a later format version is an error matching ErrNewerFormat.
// Anything else it cannot trust, including a record written for another
// key, is an error matching ErrCorrupt. Messages never contain the record's
// secrets.
//
// Stored lifetimes are bounded as the wire bounds them, so a loaded token
// never expires later than now+ucoauth.MaxProviderLifetime: expires_in is capped at
// MaxProviderLifetime; an expiry up to five minutes beyond now+MaxProviderLifetime (another
// host's clock running ahead) is capped to it; and an expiry further out
// cannot be real, so it is not trusted: the token comes back as expired (at
// the Unix epoch), to be refreshed before use and replaced by any real
// token.
//
// A tombstone (see TombstoneRetention) is an error matching
// ucoauth.ErrTokenNotFound and ucoauth.ErrRevoked while it lasts, and
// ucoauth.ErrTokenNotFound alone once it expired.
func Unmarshal(key string, data []byte) (*oauth2.Token, error) {
	tok, revoked, err := Decode(key, data)
	if err != nil {
		return nil, err
	}
	if tok == nil {
		if len(Live(revoked, time.Now())) > 0 {
			return nil, ErrTombstone
		}
		return nil, ucoauth.ErrTokenNotFound
	}
	if SelfRevoked(tok, revoked, time.Now()) {
		return nil, ErrTombstone
	}
	return tok, nil
}

// Decode decodes a record: a token with the revocations it
// carries, or a tombstone (no token, revocations).
func Decode(key string, data []byte) (*oauth2.Token, []Revocation, error) {
	if err := CheckKey(key); err != nil {
		return nil, nil, err
	}
	// One parse on the way every healthy record takes; a second, of the
	// version alone, only for a record that does not fit this format.
	var r struct {
		record
		Version json.RawMessage `json:"version"` // shadows record.Version
	}
	if err := json.Unmarshal(data, &r); err != nil {
		if err := checkVersion(data); err != nil {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%w: a field has the wrong type (%d bytes)", ErrCorrupt, len(data))
	}
	v, err := versionOK(r.Version)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case r.Key != key:
		return nil, nil, fmt.Errorf("%w: record belongs to another key", ErrCorrupt)
	case v == tokenVersion && len(r.Revoked) > 0:
		return nil, nil, fmt.Errorf("%w: revocations in a version-1 record", ErrCorrupt)
	case len(r.Revoked) > MaxRevoked:
		return nil, nil, fmt.Errorf("%w: more than %d revocations", ErrCorrupt, MaxRevoked)
	case len(r.Grant) > MaxGrantLen:
		return nil, nil, fmt.Errorf("%w: a grant ID longer than %d bytes", ErrCorrupt, MaxGrantLen)
	case r.AccessToken == "" && len(r.Revoked) > 0:
		return nil, r.Revoked, nil // a tombstone
	case r.AccessToken == "":
		return nil, nil, fmt.Errorf("%w: no access token", ErrCorrupt)
	}
	for _, rv := range r.Revoked {
		if len(rv.Grant) > MaxGrantLen {
			return nil, nil, fmt.Errorf("%w: a grant ID longer than %d bytes", ErrCorrupt, MaxGrantLen)
		}
	}
	tok := &oauth2.Token{
		AccessToken:  r.AccessToken,
		TokenType:    r.TokenType,
		RefreshToken: r.RefreshToken,
		Expiry:       r.Expiry,
		ExpiresIn:    min(max(r.ExpiresIn, 0), int64(ucoauth.MaxProviderLifetime/time.Second)),
	}
	tok.Expiry = boundExpiry(r.Expiry, time.Now())
	if checkExtras(r.Extras) != nil {
		return nil, nil, fmt.Errorf("%w: unusable provider extras", ErrCorrupt)
	}
	if r.Scope != "" || r.Grant != "" {
		tok = ucoauth.WithGrantID(tok.WithExtra(map[string]any{"scope": r.Scope}), r.Grant)
	}
	if len(r.Extras) > 0 { // only a provider that keeps extras pays a third copy
		tok = ucoauth.WithProviderExtras(tok, r.Extras)
	}
	return tok, r.Revoked, nil
}

// checkVersion reads only a record's version, so that a later format whose
// other fields changed shape is still recognised as later, not corrupt.
func checkVersion(data []byte) error {
	var h struct {
		Version json.RawMessage `json:"version"`
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return fmt.Errorf("%w: not a JSON object (%d bytes)", ErrCorrupt, len(data))
	}
	_, err := versionOK(h.Version)
	return err
}

// versionOK checks a record's raw version: one this build reads (returned),
// newer (never to be overwritten) or corrupt.
func versionOK(raw json.RawMessage) (int, error) {
	s := string(raw)
	if s == "" || s == "null" {
		return 0, fmt.Errorf("%w: no version", ErrCorrupt)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) && s[0] != '-':
		return 0, fmt.Errorf("%w: version beyond %d (this build reads %d); upgrade this program", ErrNewerFormat, int64(1<<63-1), Version)
	case err != nil:
		// A whole number spelled as this build does not write it (2.0 or
		// 2e0, from another language's tool) may be a newer version, or a
		// revocation, and the record may hold the only live refresh token:
		// never overwrite it. Anything else ("2", true, 1.5) is corrupt.
		if f, ferr := strconv.ParseFloat(s, 64); ferr == nil && f == math.Trunc(f) && f > tokenVersion {
			return 0, fmt.Errorf("%w: version is a number this build does not write (it reads %d); upgrade this program", ErrNewerFormat, Version)
		}
		return 0, fmt.Errorf("%w: version is not an integer", ErrCorrupt)
	case v > Version:
		return 0, fmt.Errorf("%w: version %d (this build reads %d); upgrade this program", ErrNewerFormat, v, Version)
	case v < tokenVersion:
		return 0, fmt.Errorf("%w: unsupported version %d (this build reads %d)", ErrCorrupt, v, Version)
	}
	return int(v), nil
}

// boundExpiry is the expiry a loaded token gets: at most
// now+MaxProviderLifetime,
// and untrustedExpiry when the stored one cannot be real.
func boundExpiry(expiry, now time.Time) time.Time {
	switch limit := now.Add(ucoauth.MaxProviderLifetime); {
	case !Trusted(expiry, now):
		return untrustedExpiry
	case expiry.After(limit):
		return limit // another host's clock runs a little ahead
	}
	return expiry
}

// Trusted reports whether a stored expiry could be real at now: no token
// is granted for longer than ucoauth.MaxProviderLifetime (the longest a
// provider's RefreshPolicy may grant). The comparison is of
// times, never of durations, so no expiry can overflow it.
func Trusted(expiry, now time.Time) bool {
	return !expiry.After(now.Add(ucoauth.MaxProviderLifetime + clockSkew))
}

// Key returns the key a record was written for.
func Key(data []byte) (string, error) {
	var r struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(data, &r); err != nil || r.Key == "" {
		return "", fmt.Errorf("%w: no key in record (%d bytes)", ErrCorrupt, len(data))
	}
	return r.Key, nil
}

// Merge is the rule every store's Save applies: it returns what to write
// when tok is saved over old (nil when the key holds nothing). It refuses a
// token it cannot store (ErrInvalidToken) and one that expires before old
// (ucoauth.ErrSuperseded), and it keeps old's refresh token when tok has
// none. A store of your own calls it inside its compare-and-set: read old,
// Merge, write the result only if old is still what is stored.
//
// An expiry more than ucoauth.MaxProviderLifetime (plus five minutes of clock skew)
// from now cannot be real, so it never wins the comparison: old with one
// supersedes nothing, and tok with one supersedes only a token with no
// expiry.
func Merge(old, tok *oauth2.Token) (*oauth2.Token, error) {
	if err := checkToken(tok); err != nil {
		return nil, err
	}
	if old == nil {
		return tok, nil
	}
	if supersedes(old.Expiry, tok.Expiry, time.Now()) {
		return nil, ucoauth.ErrSuperseded
	}
	if tok.RefreshToken == "" && old.RefreshToken != "" {
		t := *tok
		t.RefreshToken = old.RefreshToken
		scope, _ := tok.Extra("scope").(string)
		if scope == "" && ucoauth.GrantID(tok) == "" && len(ucoauth.ProviderExtras(tok)) == 0 {
			return &t, nil
		}
		merged := ucoauth.WithGrantID(t.WithExtra(map[string]any{"scope": scope}), ucoauth.GrantID(tok))
		if kept := ucoauth.ProviderExtras(tok); len(kept) > 0 {
			merged = ucoauth.WithProviderExtras(merged, kept)
		}
		return merged, nil
	}
	return tok, nil
}

// supersedes reports whether a stored token expiring at old must not be
// replaced by one expiring at tok. An expiry that cannot be real counts as
// the earliest possible.
func supersedes(old, tok, now time.Time) bool {
	if !Trusted(old, now) {
		return false
	}
	if !Trusted(tok, now) {
		tok = time.Time{}
	}
	return old.After(tok)
}

// EncodeOverRaw returns the record Save writes for tok over the stored
// record oldRaw (nil or empty when the key holds nothing). Every store's
// Save should call it with the bytes it read, inside its compare-and-set:
//
//   - a record of a newer format is never overwritten: the error matches
//     ErrNewerFormat, and the record is to be left as it is;
//   - a corrupt record is replaced, but only by a real token;
//   - a readable one is merged with tok by Merge.
//
// A record that carries revocations (a tombstone, or a token saved after
// one) refuses a token of a revoked grant with an error matching
// ucoauth.ErrRevoked, and passes its live revocations on to what replaces
// it; see TombstoneRetention.
func EncodeOverRaw(key string, oldRaw []byte, tok *oauth2.Token) ([]byte, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	var old *oauth2.Token
	var revoked []Revocation
	if len(oldRaw) > 0 {
		var err error
		old, revoked, err = Decode(key, oldRaw)
		if errors.Is(err, ErrNewerFormat) {
			return nil, fmt.Errorf("%w; not overwriting it", err)
		}
		// Any other error is a corrupt record: replace it with tok.
	}
	if SelfRevoked(old, revoked, time.Now()) {
		old = nil // a token of a revoked grant is a tombstone
	}
	revoked = Live(revoked, time.Now())
	if IsRevoked(revoked, ucoauth.GrantID(tok)) {
		if err := checkToken(tok); err != nil {
			return nil, err
		}
		return nil, refusedRevoked(ucoauth.GrantID(tok))
	}
	merged, err := Merge(old, tok)
	if err != nil {
		return nil, err
	}
	return marshalRecord(key, merged, revoked)
}

// CheckKey refuses keys no store can keep: the empty key, and one that is
// not valid UTF-8, which a JSON record would silently change.
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: the key is empty", ErrInvalidKey)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: the key is not valid UTF-8 (%d bytes), which a JSON record cannot keep", ErrInvalidKey, len(key))
	}
	return nil
}

// maxExtras bounds the provider extras a record keeps (ucoauth keeps at
// most 8), and maxExtraName the length of a name.
const (
	maxExtras    = 8
	maxExtraName = 64
)

// checkExtras says why a record cannot keep m, the provider extras of a
// token: too many, or a name or value too long or not valid UTF-8. Its
// error names no value.
func checkExtras(m map[string]string) error {
	if len(m) > maxExtras {
		return fmt.Errorf("more than %d provider extras", maxExtras)
	}
	for k, v := range m {
		if len(k) > maxExtraName || len(v) > redact.MaxScrubText || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("a provider extra (%d-byte name) is too long or not valid UTF-8", len(k))
		}
	}
	return nil
}

package ucoauth

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/ucoauth/go-ucoauth/internal/redact"
	"golang.org/x/oauth2"
)

// RefreshEvent describes one refresh that reached the OAuth server. It
// prints and marshals (fmt, log/slog, encoding/json) with its token as
// fingerprints only; the fields themselves hold the real values.
type RefreshEvent struct {
	// Key is the store key whose token was refreshed.
	Key string
	// Token is the new token, or nil when the server issued none.
	Token *oauth2.Token
	// Err is what went wrong. It may come with a Token: a token whose
	// expires_in was unusable (ErrBadExpiresIn), or one that could not be
	// saved (a *StoreError; the source keeps it and retries the save).
	Err error
	// Duration is how long the call to the server took.
	Duration time.Duration
}

// Fingerprint returns a short, stable digest of a secret, so that logs can
// tell two tokens apart without revealing either.
func Fingerprint(secret string) string { return redact.Fingerprint(secret) }

// LogToken returns a value describing tok without its secrets: its type,
// expiry, scope and the fingerprints of its access and refresh tokens. It
// prints so under log/slog (text and JSON), every fmt verb and
// encoding/json.
func LogToken(tok *oauth2.Token) slog.LogValuer { return logToken{tok} }

type logToken struct{ t *oauth2.Token }

func (l logToken) LogValue() slog.Value {
	if l.t == nil {
		return slog.StringValue("<nil>")
	}
	attrs := []slog.Attr{
		slog.String("type", l.t.Type()),
		slog.String("access", Fingerprint(l.t.AccessToken)),
		slog.String("refresh", Fingerprint(l.t.RefreshToken)),
		slog.Time("expiry", l.t.Expiry.Round(time.Second)),
	}
	if s := scopeText(l.t); s != "" {
		attrs = append(attrs, slog.String("scope", s))
	}
	return slog.GroupValue(attrs...)
}

// logTokenView is what a token shows of itself in logs: fingerprints only.
type logTokenView struct {
	Type    string    `json:"type"`
	Access  string    `json:"access"`
	Refresh string    `json:"refresh"`
	Expiry  time.Time `json:"expiry"`
	Scope   string    `json:"scope,omitempty"`
}

func viewOf(t *oauth2.Token) logTokenView {
	return logTokenView{
		Type:    t.Type(),
		Access:  Fingerprint(t.AccessToken),
		Refresh: Fingerprint(t.RefreshToken),
		Expiry:  t.Expiry.Round(time.Second),
		Scope:   scopeText(t),
	}
}

// scopeText is the token's scope as logs show it: the server wrote it, so
// a token of the same answer echoed in it, in any encoding, is replaced by
// [redact.Placeholder]. Past maxScrubText bytes it is cut, so that printing stays
// cheap.
func scopeText(t *oauth2.Token) string {
	s := scopeOf(t)
	if s == "" {
		return ""
	}
	return newRedactor(t.AccessToken, t.RefreshToken).scrubPrefix(s, maxScrubText)
}

func (l logToken) String() string {
	if l.t == nil {
		return "<nil>"
	}
	v := viewOf(l.t)
	s := fmt.Sprintf("token{type=%s access=%s refresh=%s expiry=%s", v.Type, v.Access, v.Refresh, v.Expiry.Format(time.RFC3339))
	if v.Scope != "" {
		s += " scope=" + strconv.Quote(v.Scope)
	}
	return s + "}"
}

// GoString is String, so that %#v reveals nothing either.
func (l logToken) GoString() string { return l.String() }

// Format prints the description under every verb.
func (l logToken) Format(f fmt.State, verb rune) { formatText(f, verb, l.String()) }

// MarshalJSON writes the fingerprints, never the token.
func (l logToken) MarshalJSON() ([]byte, error) {
	if l.t == nil {
		return []byte("null"), nil
	}
	return json.Marshal(viewOf(l.t))
}

// String describes the event with the token as fingerprints.
func (e RefreshEvent) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ucoauth.RefreshEvent{Key: %q, Token: %s", e.Key, logToken{e.Token})
	if e.Err != nil {
		fmt.Fprintf(&b, ", Err: %s", strconv.Quote(e.Err.Error()))
	}
	fmt.Fprintf(&b, ", Duration: %s}", e.Duration)
	return b.String()
}

// GoString is String, so that %#v reveals no token.
func (e RefreshEvent) GoString() string { return e.String() }

// Format prints [RefreshEvent.String] under every verb (%q quotes it, %x
// hex-encodes it), so no verb reaches the token's fields.
func (e RefreshEvent) Format(f fmt.State, verb rune) { formatText(f, verb, e.String()) }

// LogValue describes the event for log/slog with the token as fingerprints.
func (e RefreshEvent) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("key", e.Key), slog.Any("token", logToken{e.Token})}
	if e.Err != nil {
		attrs = append(attrs, slog.String("err", e.Err.Error()))
	}
	attrs = append(attrs, slog.Duration("duration", e.Duration))
	return slog.GroupValue(attrs...)
}

// MarshalJSON writes the event with the token as fingerprints.
func (e RefreshEvent) MarshalJSON() ([]byte, error) {
	v := struct {
		Key      string   `json:"key"`
		Token    logToken `json:"token"`
		Err      string   `json:"err,omitempty"`
		Duration string   `json:"duration"`
	}{Key: e.Key, Token: logToken{e.Token}, Duration: e.Duration.String()}
	if e.Err != nil {
		v.Err = e.Err.Error()
	}
	return json.Marshal(v)
}

// scopeOf returns the scope a token was granted, or "".
func scopeOf(t *oauth2.Token) string {
	s, _ := t.Extra("scope").(string)
	return s
}

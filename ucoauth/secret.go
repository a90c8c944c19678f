package ucoauth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/oauth2"
)

// Redacted is the text every secret prints as.
const Redacted = "[REDACTED]"

// Secret is a string that does not reveal itself: fmt, log/slog and
// encoding/json all print it as [Redacted]. Use Reveal to get the value.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String returns [Redacted].
func (Secret) String() string { return Redacted }

// GoString returns [Redacted], so %#v hides the value too.
func (Secret) GoString() string { return Redacted }

// Format prints [Redacted] for every verb.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue hides the value from log/slog.
func (Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON writes [Redacted], so a Secret never lands in JSON by accident.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText writes [Redacted], for the encoders that use
// encoding.TextMarshaler (encoding/xml, YAML and TOML libraries).
func (Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// Fingerprint returns a short, stable digest of a secret, so that logs can
// tell two tokens apart without revealing either.
func Fingerprint(secret string) string {
	if secret == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:4])
}

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

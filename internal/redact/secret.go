package redact

import (
	"fmt"
	"log/slog"
)

// Secret is a string that does not reveal itself: fmt, log/slog,
// encoding/json and every encoding.TextMarshaler user print it as
// [Placeholder]. Use Reveal to get the value.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String returns [Placeholder].
func (Secret) String() string { return Placeholder }

// GoString returns [Placeholder], so %#v hides the value too.
func (Secret) GoString() string { return Placeholder }

// Format prints [Placeholder] for every verb.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Placeholder)) }

// LogValue hides the value from log/slog.
func (Secret) LogValue() slog.Value { return slog.StringValue(Placeholder) }

// MarshalJSON writes [Placeholder], so a Secret never lands in JSON by
// accident.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Placeholder + `"`), nil }

// MarshalText writes [Placeholder], for the encoders that use
// encoding.TextMarshaler (encoding/xml, YAML and TOML libraries).
func (Secret) MarshalText() ([]byte, error) { return []byte(Placeholder), nil }

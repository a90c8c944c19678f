package ucoauth

import (
	"fmt"

	"github.com/ucoauth/go-ucoauth/internal/redact"
)

// Everything this package scrubs goes through internal/redact; these names
// only keep the call sites short.
const (
	redacted     = redact.Placeholder
	minSecretLen = redact.MinSecretLen
	maxText      = redact.MaxText
	maxScrubText = redact.MaxScrubText
)

// redactor holds the secrets of one call (see [redact.Redactor]). A nil
// *redactor scrubs nothing.
type redactor struct{ r *redact.Redactor }

func newRedactor(secrets ...string) *redactor { return &redactor{redact.New(secrets...)} }

// add makes r scrub each secret too.
func (r *redactor) add(secrets ...string) { r.r.Add(secrets...) }

// has reports whether r scrubs s.
func (r *redactor) has(s string) bool { return r != nil && r.r.Has(s) }

// scrub returns s with every secret, in every encoding, replaced by
// [redact.Placeholder].
func (r *redactor) scrub(s string) string {
	if r == nil {
		return s
	}
	return r.r.Scrub(s)
}

// scrubPrefix scrubs at most the first n bytes of s (see
// [redact.Redactor.ScrubPrefix]).
func (r *redactor) scrubPrefix(s string, n int) string {
	if r == nil {
		return (*redact.Redactor)(nil).ScrubPrefix(s, n)
	}
	return r.r.ScrubPrefix(s, n)
}

// wrap returns err with its text scrubbed, or nil; it unwraps to err.
func (r *redactor) wrap(err error) error {
	if r == nil {
		return (*redact.Redactor)(nil).Wrap(err)
	}
	return r.r.Wrap(err)
}

// wrapPrefix is wrap for a text scrubbed only in its first n bytes.
func (r *redactor) wrapPrefix(err error, n int) error {
	if r == nil {
		return (*redact.Redactor)(nil).WrapPrefix(err, n)
	}
	return r.r.WrapPrefix(err, n)
}

// encodings lists the forms a secret can take (see [redact.Encodings]).
func encodings(s string) []string { return redact.Encodings(s) }

// clip caps server text at maxText bytes of valid UTF-8.
func clip(s string) string { return redact.Clip(s) }

// formatText writes text for verb: %q quotes it, %x and %X hex-encode it,
// every other verb prints it as is.
func formatText(f fmt.State, verb rune, text string) { redact.FormatText(f, verb, text) }

// Package redact is the one security boundary of this module: every text the
// library builds out of a server's answer, a store's error or a token goes
// through it before it reaches an error, a log line, fmt or encoding/json.
// The encodings a secret can take are defined here, once (encodings.go), and
// so are the windows that bound the cost of scrubbing (MaxText,
// MaxScrubText).
package redact

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Placeholder is the text every secret prints as.
const Placeholder = "[REDACTED]"

// MinSecretLen is the shortest secret that is scrubbed: shorter strings
// would match ordinary words in messages, and no real credential is that
// short.
const MinSecretLen = 4

// MaxText caps each piece of server text kept in an error, so that a
// hostile answer cannot blow up every log line that prints it.
const MaxText = 1 << 10

// MaxScrubText caps how much of one piece of server text is scrubbed (and
// then clipped to MaxText). Scrubbing costs up to the text's length times
// the longest secret's: a 10 MiB header scrubbed of a 1 MiB token from the
// same answer would take minutes.
//
// A secret cut by this window is not recognised: the bytes that could hold
// its fragment are dropped (see Redactor.ScrubPrefix).
const MaxScrubText = 16 * MaxText

// Redactor knows every secret of one call (what was sent and every token
// found in the answer) and scrubs each, in every encoding it can take, from
// text built out of a server's answer. A nil Redactor scrubs nothing.
//
// It is safe for concurrent use: an error holding it may be printed by
// every caller that waited for the same refresh.
//
// Its cost is linear in what it is given: secrets are deduplicated through a
// set, and the replacer is built once after the last add and then reused by
// every scrub (every Error() call).
type Redactor struct {
	mu      sync.Mutex
	secrets []string            // in the order added
	seen    map[string]struct{} // the same, as a set
	rep     *strings.Replacer   // built on first use after an add
	longest int                 // the longest pattern in rep
}

// New returns a Redactor that scrubs secrets.
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add makes r scrub each secret too.
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		if len(s) < MinSecretLen {
			continue
		}
		if _, ok := r.seen[s]; ok {
			continue
		}
		if r.seen == nil {
			r.seen = make(map[string]struct{})
		}
		r.seen[s] = struct{}{}
		r.secrets = append(r.secrets, s)
		r.rep = nil
	}
}

// Len is how many secrets r scrubs.
func (r *Redactor) Len() int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.secrets)
}

// Has reports whether r scrubs s.
func (r *Redactor) Has(s string) bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.seen[s]
	return ok
}

func (r *Redactor) replacer() *strings.Replacer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rep != nil {
		return r.rep
	}
	var pats []string
	seen := make(map[string]struct{})
	for _, s := range r.secrets {
		for _, e := range Encodings(s) {
			if _, dup := seen[e]; dup {
				continue
			}
			seen[e] = struct{}{}
			// A pattern inside the placeholder cannot be scrubbed: the
			// placeholder would bring it back.
			if len(e) >= MinSecretLen && !strings.Contains(Placeholder, e) {
				pats = append(pats, e)
			}
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortStableFunc(pats, func(a, b string) int { return len(b) - len(a) })
	r.longest = 0
	if len(pats) > 0 {
		r.longest = len(pats[0])
	}
	args := make([]string, 0, 2*len(pats))
	for _, p := range pats {
		args = append(args, p, Placeholder)
	}
	r.rep = strings.NewReplacer(args...)
	return r.rep
}

// Scrub returns s with every secret, in every encoding, replaced by [Placeholder].
func (r *Redactor) Scrub(s string) string {
	if r == nil || s == "" {
		return s
	}
	return r.replacer().Replace(s)
}

// ScrubPrefix returns s scrubbed, or only its first n bytes, scrubbed, when
// s is longer. A secret that the cut at n splits is not recognised, and its
// fragment, shorter than the longest pattern, would end the text: so that
// many bytes are dropped too, and "..." marks the cut.
func (r *Redactor) ScrubPrefix(s string, n int) string {
	if len(s) <= n {
		return r.Scrub(s)
	}
	out := r.Scrub(s[:n])
	if r != nil {
		r.replacer() // sets longest
		r.mu.Lock()
		keep := max(len(out)-max(r.longest-1, 0), 0)
		r.mu.Unlock()
		for keep > 0 && keep < len(out) && !utf8.RuneStart(out[keep]) {
			keep-- // whole characters only: the text may be stored (a scope)
		}
		out = out[:keep]
	}
	return out + "..."
}

// scrubbedError carries a cause whose text is scrubbed. Unwrap still gives the
// cause, so that errors.Is and errors.As (net.Error, context.DeadlineExceeded)
// keep working.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// Format prints the scrubbed text under every verb, never the cause's fields.
func (e *scrubbedError) Format(f fmt.State, verb rune) { FormatText(f, verb, e.msg) }

// Wrap returns err with its text scrubbed, or nil.
func (r *Redactor) Wrap(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*scrubbedError); ok {
		return err
	}
	return &scrubbedError{msg: r.Scrub(err.Error()), err: err}
}

// WrapPrefix returns err with only the first n bytes of its text scrubbed
// and kept (see ScrubPrefix), or nil. It still unwraps to err.
func (r *Redactor) WrapPrefix(err error, n int) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{msg: r.ScrubPrefix(err.Error(), n), err: err}
}

// Text returns an error whose text is msg and that unwraps to err: for a
// caller that scrubbed err's text its own way (a store's record, say).
func Text(msg string, err error) error { return &scrubbedError{msg: msg, err: err} }

// FormatText writes text for verb: %q quotes it, %x and %X hex-encode it,
// every other verb prints it as is.
func FormatText(f fmt.State, verb rune, text string) {
	switch verb {
	case 'q':
		_, _ = f.Write([]byte(strconv.Quote(text)))
	case 'x':
		_, _ = fmt.Fprintf(f, "%x", text)
	case 'X':
		_, _ = fmt.Fprintf(f, "%X", text)
	default:
		_, _ = f.Write([]byte(text))
	}
}

// Clip caps server text at MaxText bytes of valid UTF-8.
func Clip(s string) string {
	if len(s) > MaxText {
		s = s[:MaxText] + "..."
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// Fingerprint returns a short, stable digest of a secret, so that logs can
// tell two tokens apart without revealing either.
func Fingerprint(secret string) string {
	if secret == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:4])
}

package ucoauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// minSecretLen is the shortest secret that is scrubbed: shorter strings
// would match ordinary words in messages, and no real credential is that
// short.
const minSecretLen = 4

// redactor knows every secret of one call (what was sent and every token
// found in the answer) and scrubs each, in every encoding it can take, from
// text the library builds out of a server's answer. A nil redactor scrubs
// nothing.
//
// It is safe for concurrent use: an *Error holding it may be printed by
// every caller that waited for the same refresh.
type redactor struct {
	mu      sync.Mutex
	secrets []string
	rep     *strings.Replacer // built on first use after an add
}

func newRedactor(secrets ...string) *redactor {
	r := &redactor{}
	r.add(secrets...)
	return r
}

// add makes r scrub each secret too.
func (r *redactor) add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		if len(s) >= minSecretLen && !slices.Contains(r.secrets, s) {
			r.secrets = append(r.secrets, s)
			r.rep = nil
		}
	}
}

// encodings lists the forms a secret can take in a server's echo or in the
// library's own output: raw, form- and path-encoded, JSON-escaped (with and
// without HTML escaping), Go-quoted, and inside HTTP Basic credentials.
func encodings(s string) []string {
	out := []string{s, url.QueryEscape(s), url.PathEscape(s), url.QueryEscape(url.QueryEscape(s))}
	if b, err := json.Marshal(s); err == nil {
		out = append(out, string(b[1:len(b)-1]))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(s) == nil {
		b := bytes.TrimSpace(buf.Bytes())
		out = append(out, string(b[1:len(b)-1]))
	}
	q, qa := strconv.Quote(s), strconv.QuoteToASCII(s)
	out = append(out, q[1:len(q)-1], qa[1:len(qa)-1], base64.StdEncoding.EncodeToString([]byte(s)))
	return out
}

func (r *redactor) replacer() *strings.Replacer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rep != nil {
		return r.rep
	}
	var pats []string
	for _, s := range r.secrets {
		for _, e := range encodings(s) {
			// A pattern inside the placeholder cannot be scrubbed: the
			// placeholder would bring it back.
			if len(e) >= minSecretLen && !strings.Contains(Redacted, e) && !slices.Contains(pats, e) {
				pats = append(pats, e)
			}
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortStableFunc(pats, func(a, b string) int { return len(b) - len(a) })
	args := make([]string, 0, 2*len(pats))
	for _, p := range pats {
		args = append(args, p, Redacted)
	}
	r.rep = strings.NewReplacer(args...)
	return r.rep
}

// scrub returns s with every secret, in every encoding, replaced by [Redacted].
func (r *redactor) scrub(s string) string {
	if r == nil || s == "" {
		return s
	}
	return r.replacer().Replace(s)
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
func (e *scrubbedError) Format(f fmt.State, verb rune) { formatText(f, verb, e.msg) }

// wrap returns err with its text scrubbed, or nil.
func (r *redactor) wrap(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*scrubbedError); ok {
		return err
	}
	return &scrubbedError{msg: r.scrub(err.Error()), err: err}
}

// formatText writes text for verb: %q quotes it, %x and %X hex-encode it,
// every other verb prints it as is.
func formatText(f fmt.State, verb rune, text string) {
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

// jsonTokenStrings returns every string inside raw JSON: the tokens an
// answer carries, however it nests them.
func jsonTokenStrings(raw json.RawMessage) []string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v, strings.TrimSpace(v))
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	return out
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
		Scope:   scopeOf(t),
	}
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

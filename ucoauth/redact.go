package ucoauth

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

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
//
// Its cost is linear in what it is given: secrets are deduplicated through a
// set, and the replacer is built once after the last add and then reused by
// every scrub (every Error() call).
type redactor struct {
	mu      sync.Mutex
	secrets []string            // in the order added
	seen    map[string]struct{} // the same, as a set
	rep     *strings.Replacer   // built on first use after an add
	longest int                 // the longest pattern in rep
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
		if len(s) < minSecretLen {
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

// has reports whether r scrubs s.
func (r *redactor) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.seen[s]
	return ok
}

// encodings lists the forms a secret can take in a server's echo or in the
// library's own output: raw; percent-encoded the way Go (form and path),
// Java's URLEncoder, JavaScript's encodeURIComponent and strict RFC 3986
// encoders write it, each with upper- and lowercase hex digits, and
// form-encoded twice; JSON-escaped (with and without HTML escaping, and with
// the solidus escaped as \/ the way PHP and many Java libraries write it);
// JSON with uppercase \u escapes (PHP's JSON_HEX_TAG); JSON-escaped then
// form-encoded (JSON text in a URL); Go-quoted; hex-encoded; base64
// (standard and URL-safe, padded or not, at any offset inside a longer
// encoded text) of the secret raw or form-encoded, as in HTTP Basic
// credentials, the standard one also with its + and / percent-encoded (in a
// URL) or its / written \/ (PHP's JSON); and HTML-escaped.
//
// Mixed-case hex digits inside one escape sequence ("%2f" next to "%2B" in
// the same secret) are not generated: no encoder writes them.
func encodings(s string) []string {
	out := []string{s}
	qe := url.QueryEscape(s)
	for _, e := range []string{
		qe, url.PathEscape(s), url.QueryEscape(qe),
		percentEncode(s, javaURLSafe, true),      // java.net.URLEncoder
		percentEncode(s, jsComponentSafe, false), // encodeURIComponent
		percentEncode(s, unreservedSafe, false),  // RFC 3986, strict
		percentEncode(s, alnumSafe, false),       // every other byte escaped
		percentEncode(s, alnumSafe, true),
	} {
		out = append(out, e, lowerHex(e))
	}
	var jsons []string
	if b, err := json.Marshal(s); err == nil {
		jsons = append(jsons, string(b[1:len(b)-1]))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(s) == nil {
		b := bytes.TrimSpace(buf.Bytes())
		jsons = append(jsons, string(b[1:len(b)-1]))
	}
	for _, j := range jsons {
		for _, v := range []string{j, upperUnicodeEscapes(j)} {
			out = append(out, v, strings.ReplaceAll(v, "/", `\/`))
		}
		// JSON text in a URL: a blob echoed in error_uri's query.
		if jq := url.QueryEscape(j); jq != qe {
			out = append(out, jq, lowerHex(jq))
		}
	}
	q, qa := strconv.Quote(s), strconv.QuoteToASCII(s)
	out = append(out, q[1:len(q)-1], qa[1:len(qa)-1], hex.EncodeToString([]byte(s)), strings.ToUpper(hex.EncodeToString([]byte(s))))
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		out = append(out, base64Cores(enc, s)...)
	}
	if strings.ContainsAny(s, `<>&'"`) {
		// HTML-escaped, with each way escapers write quotes.
		for _, quot := range []string{"&#34;", "&quot;"} {
			for _, apos := range []string{"&#39;", "&#x27;", "&apos;"} {
				out = append(out, strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, quot, "'", apos).Replace(s))
			}
		}
	}
	// base64 of the secret form-encoded, as in HTTP Basic credentials
	// (RFC 6749 section 2.3.1) or an echoed form.
	if qe != s {
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			out = append(out, base64Cores(enc, qe)...)
		}
	}
	// Standard base64 in a URL has its + and / percent-encoded, and in
	// PHP's JSON its / written \/.
	for _, c := range base64Cores(base64.RawStdEncoding, s) {
		if strings.ContainsAny(c, "+/") {
			q := strings.NewReplacer("+", "%2B", "/", "%2F").Replace(c)
			out = append(out, q, lowerHex(q), strings.ReplaceAll(c, "/", `\/`))
		}
	}
	return out
}

// base64Cores returns, for each of the three byte offsets (mod 3) at which s
// can start inside a longer text, the base64 characters that encode bytes of
// s alone. One of them appears in the base64 encoding of any text holding s
// (HTTP Basic credentials, an echoed form), padded or not; the one or two
// characters at each end that mix in the neighbouring bytes are left, each
// carrying at most four bits of s.
func base64Cores(enc *base64.Encoding, s string) []string {
	out := make([]string, 0, 3)
	for k := range 3 {
		e := enc.EncodeToString(append(make([]byte, k), s...))
		start, end := (8*k+5)/6, 8*(k+len(s))/6
		if end > start {
			out = append(out, e[start:end])
		}
	}
	return out
}

// upperUnicodeEscapes rewrites the hex digits of every \uXXXX escape in j in
// uppercase, as PHP's JSON_HEX_TAG and many Java encoders write them ("\u003C"
// where Go writes "\u003c").
func upperUnicodeEscapes(j string) string {
	if !strings.Contains(j, `\u`) {
		return j
	}
	b := []byte(j)
	for i := 0; i+5 < len(b); i++ {
		if b[i] == '\\' && b[i+1] == 'u' && isHex(b[i+2]) && isHex(b[i+3]) && isHex(b[i+4]) && isHex(b[i+5]) {
			for n := i + 2; n < i+6; n++ {
				if b[n] >= 'a' && b[n] <= 'f' {
					b[n] -= 'a' - 'A'
				}
			}
			i += 5
		} else if b[i] == '\\' {
			i++ // an escaped backslash: what follows is no escape
		}
	}
	return string(b)
}

// The bytes, besides ASCII letters and digits, that a percent-encoder
// leaves as they are.
const (
	javaURLSafe     = ".-*_"
	jsComponentSafe = "-_.!~*'()"
	unreservedSafe  = "-._~"
	alnumSafe       = ""
)

// percentEncode escapes every byte of s but ASCII letters, digits and the
// bytes in safe as %XX (uppercase hex); a space is written '+' when plus.
func percentEncode(s, safe string, plus bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(3 * len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c != 0 && strings.IndexByte(safe, c) >= 0:
			b.WriteByte(c)
		case c == ' ' && plus:
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// lowerHex rewrites the hex digits of every %XX escape in e in lowercase.
func lowerHex(e string) string {
	if !strings.Contains(e, "%") {
		return e
	}
	b := []byte(e)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' && isHex(b[i+1]) && isHex(b[i+2]) {
			b[i+1], b[i+2] = toLower(b[i+1]), toLower(b[i+2])
			i += 2
		}
	}
	return string(b)
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func toLower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func (r *redactor) replacer() *strings.Replacer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rep != nil {
		return r.rep
	}
	var pats []string
	seen := make(map[string]struct{})
	for _, s := range r.secrets {
		for _, e := range encodings(s) {
			if _, dup := seen[e]; dup {
				continue
			}
			seen[e] = struct{}{}
			// A pattern inside the placeholder cannot be scrubbed: the
			// placeholder would bring it back.
			if len(e) >= minSecretLen && !strings.Contains(Redacted, e) {
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

// scrubPrefix returns s scrubbed, or only its first n bytes, scrubbed, when
// s is longer. A secret that the cut at n splits is not recognised, and its
// fragment, shorter than the longest pattern, would end the text: so that
// many bytes are dropped too, and "..." marks the cut.
func (r *redactor) scrubPrefix(s string, n int) string {
	if len(s) <= n {
		return r.scrub(s)
	}
	out := r.scrub(s[:n])
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
// [Redacted]. Past maxScrubText bytes it is cut, so that printing stays
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

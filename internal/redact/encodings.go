package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
)

// Encodings lists the forms a secret can take in a server's echo or in the
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
func Encodings(s string) []string {
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

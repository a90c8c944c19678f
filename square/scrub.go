package square

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// scrubber removes a call's secrets from server text in the encodings a
// server could echo them in.
//
// TODO(issue 17): move to the root internal/redact once it lands, so that
// the encodings are defined once.
type scrubber struct{ r *strings.Replacer }

func newScrubber(secrets ...string) *scrubber {
	var pairs []string
	for _, s := range secrets {
		if len(s) < 4 { // too short to be a secret, and would mangle text
			continue
		}
		j, _ := json.Marshal(s)
		forms := []string{s, string(j[1 : len(j)-1]), url.QueryEscape(s), url.PathEscape(s),
			base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s)),
			strings.Trim(strconv.QuoteToASCII(s), `"`)}
		for _, f := range forms {
			pairs = append(pairs, f, redacted)
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	return &scrubber{strings.NewReplacer(pairs...)}
}

func (s *scrubber) scrub(t string) string {
	if s == nil {
		return t
	}
	return s.r.Replace(t)
}

// word returns a server's word as it is when it is plain, and Go-quoted
// otherwise, so that no server text can end a log line early or forge one.
func word(s string) string {
	for _, c := range s {
		if c > unicode.MaxASCII || !(unicode.IsLetter(c) || unicode.IsDigit(c) || strings.ContainsRune("_-.:/", c)) {
			return strconv.Quote(s)
		}
	}
	return s
}

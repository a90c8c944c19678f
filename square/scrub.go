package square

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/ucoauth/go-ucoauth/internal/redact"
)

// scrubber removes a call's secrets from server text in every encoding a
// server could echo them in: the module's one security boundary,
// internal/redact, defines them once.
type scrubber struct{ r *redact.Redactor }

func newScrubber(secrets ...string) *scrubber {
	r := redact.New(secrets...)
	if r.Len() == 0 {
		return nil
	}
	return &scrubber{r}
}

func (s *scrubber) scrub(t string) string {
	if s == nil {
		return t
	}
	return s.r.Scrub(t)
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

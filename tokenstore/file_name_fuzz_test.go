package tokenstore

import (
	"strings"
	"testing"

	"github.com/ucoauth/go-ucoauth/internal/tokenfile"
)

// FuzzFileName checks the names File gives keys: never a path separator,
// NUL, "." or "..", never a temporary or lock file's name, bounded in
// length, only portable characters, and distinct for distinct keys.
func FuzzFileName(f *testing.F) {
	for _, pair := range [][2]string{
		{"../escape", "..\\escape"}, {".", ".."}, {"/abs/path", "abs/path"}, {"a/b", "a_b"},
		{"UPPER", "upper"}, {"nul\x00byte", "nul_byte"}, {"\xff", "\uFFFD"}, {"", " "},
		{strings.Repeat("k", 4096), strings.Repeat("k", 4097)}, {strings.Repeat("é", 100), strings.Repeat("e", 100)},
		{"ünïcödé-商人", "{hash}tag"}, {"*", "?"}, {"tab\tand\nnewline", "con"}, {"aux.json", "x.lock"},
	} {
		f.Add(pair[0], pair[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		na, nb := tokenfile.Name(a), tokenfile.Name(b)
		for _, n := range []string{na, nb} {
			if n == "." || n == ".." || n == "" {
				t.Fatalf("name %q", n)
			}
			if strings.HasPrefix(n, tempPrefix) || strings.HasPrefix(n, writeLockName) {
				t.Fatalf("name %q could be taken for a temporary or lock file", n)
			}
			if len(n) > 64+1+20 {
				t.Fatalf("name of %d bytes", len(n))
			}
			for _, c := range []byte(n) {
				if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
					t.Fatalf("name %q has byte %q", n, c)
				}
			}
		}
		if (a == b) != (na == nb) {
			t.Fatalf("keys %q and %q: names %q and %q", a, b, na, nb)
		}
	})
}

package main

import (
	"io"
	"net/url"
	"strings"
	"testing"
	"unicode"
)

// FuzzStoreSpec: no store spec panics, and none gets its password echoed.
func FuzzStoreSpec(f *testing.F) {
	for _, s := range []string{
		"", ":", "redis://", "redis://:pw@127.0.0.1:1/0", "rediss://u:pw@h:1/0?prefix=a:", "redis://h/0?prefix=",
		"redis://u:pw@h:1/0?bogus=1", "redis://u:pw@[::1", "redis://%zz:pw@h", "REDIS://h", "postgres://u:pw@db/x",
		"mysql://u:pw@tcp(db)/x", "sqlite:", "mongodb://u:pw@db", "http://u:pw@h", "\x00redis://", "redis://h/99999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		switch scheme, _, _ := strings.Cut(strings.ToLower(spec), ":"); scheme {
		case "file":
			return // would create directories
		case "postgres", "postgresql", "mysql", "sqlite":
			// Parse only: opening would connect, or create files.
			p, err := parseSQL(spec)
			if err == nil && p.dsn == "" {
				t.Fatal("no error, yet no DSN")
			}
			if u, perr := url.Parse(spec); err != nil && perr == nil && u.User != nil {
				if pw, ok := u.User.Password(); ok && len(pw) > 3 && strings.Contains(err.Error(), pw) {
					t.Fatalf("the error echoes the password: %v", err)
				}
			}
			return
		}
		store, closeStore, err := openStore(spec, "", io.Discard)
		if err == nil {
			if store == nil || closeStore == nil {
				t.Fatal("no error, yet no store")
			}
			closeStore()
			return
		}
		if u, perr := url.Parse(spec); perr == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok && len(pw) > 3 && strings.Contains(err.Error(), pw) {
				t.Fatalf("the error echoes the password: %v", err)
			}
		}
	})
}

// FuzzPrintable: no key can put a control character in the status table.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"M1", "", "a\tb", "a\nb", "\x1b[2J", "\u202e", "é", "\xff", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		p := printable(key)
		for _, r := range p {
			if !unicode.IsPrint(r) || r == '\t' {
				t.Fatalf("printable(%q) = %q holds %q", key, p, r)
			}
		}
	})
}

// FuzzOneLine: every error is printed on one line, with no control or
// invisible character left for a terminal to obey.
func FuzzOneLine(f *testing.F) {
	for _, s := range []string{"a\nb", "a\r\nb", "\n", "x\u2028y", "  spaced  ", "\x1b]0;title\x07", "\x1b[2J", "\u009b31m", "\u202eevil", "\xff\xfe", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o := oneLine(s)
		for _, r := range o {
			if r != ' ' && !unicode.IsPrint(r) {
				t.Fatalf("oneLine(%q) = %q holds %q", s, o, r)
			}
		}
	})
}

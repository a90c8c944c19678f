package redisstore

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzRedisKey checks the key encoding: every Redis key has exactly one
// intact {...} hash tag with no brace inside, so one merchant's keys share a
// Cluster slot; distinct store keys never share a Redis key; nothing panics.
func FuzzRedisKey(f *testing.F) {
	for _, s := range []string{
		"m", "{", "}", "{}", "}{", "{a}", "a{b}c", "{{}}", "#", "#abc", "##", "#" + strings.Repeat("0", 32),
		" ", "\x00", "a\x00b", strings.Repeat("k", 4096), "\xff\xfe", "\xc3\x28", "ünïcödé-商人",
		"*", "?", "[a-z]", `\`, ":token", "}:token", "a}:lock{",
	} {
		f.Add(s, s+"x")
	}
	r := New(nil)
	f.Fuzz(func(t *testing.T, a, b string) {
		if a == "" || b == "" {
			return // refused by checkKey
		}
		for _, k := range []string{a, b} {
			for _, kind := range []string{"token", "lock", "unlock"} {
				rk := r.key(k, kind)
				rest, ok := strings.CutPrefix(rk, DefaultKeyPrefix+"{")
				if !ok || strings.Count(rk, "{") != 1 || strings.Count(rk, "}") != 1 {
					t.Fatalf("key %q: Redis key %q has not exactly one hash tag", k, rk)
				}
				tag, suffix, _ := strings.Cut(rest, "}")
				if tag == "" || suffix != ":"+kind {
					t.Fatalf("key %q: Redis key %q: tag %q, suffix %q", k, rk, tag, suffix)
				}
				if tag != hashTag(k) {
					t.Fatalf("key %q: the tag Redis hashes (%q) is not the store's (%q)", k, tag, hashTag(k))
				}
				if tag != k && (!strings.HasPrefix(tag, "#") || len(tag) != 33 || !utf8.ValidString(tag)) {
					t.Fatalf("key %q: digest tag %q is malformed", k, tag)
				}
			}
		}
		if a != b && r.key(a, "token") == r.key(b, "token") {
			t.Fatalf("keys %q and %q share the Redis key %q", a, b, r.key(a, "token"))
		}
	})
}

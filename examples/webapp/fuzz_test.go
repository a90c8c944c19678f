package main

import (
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// FuzzSession: no cookie value panics, and only a value the app signed
// signs anyone in.
func FuzzSession(f *testing.F) {
	fake := ucoauthtest.NewServer()
	defer fake.Close()
	a, err := newApp(fake.Config(), tokenstore.NewMemory(), fake.BaseURL())
	if err != nil {
		f.Fatal(err)
	}
	good := hex.EncodeToString([]byte("M1")) + "." + a.sign("session", "M1")
	for _, s := range []string{"", ".", "4d31", "4d31.", good, good + "0", "4d31." + a.sign("csrf", "M1"), "zz." + a.sign("session", "M1"), "..", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
		c, err := r.Cookie(sessionCookie)
		if err != nil {
			return // not a cookie a browser could send
		}
		m, ok := a.session(r)
		if _, sig, _ := strings.Cut(c.Value, "."); ok && sig != a.sign("session", m) {
			t.Fatalf("cookie %q signs in %q without the app's signature", value, m)
		}
	})
}

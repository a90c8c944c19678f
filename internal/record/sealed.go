package record

import (
	"strings"

	"golang.org/x/oauth2"
)

// IsSealed reports whether tok's secrets are sealed values: what a handle
// on a sealed store without tokenstore.Seal (without the keys) reads. Such
// a token must not be used: its "access token" is ciphertext.
func IsSealed(tok *oauth2.Token) bool {
	return tok != nil && (LooksVersioned(tok.AccessToken) || LooksVersioned(tok.RefreshToken))
}

// LooksVersioned reports a value of the form "ucsN:", sealed by some
// version of tokenstore.Seal (this build's or another): never read it as
// plaintext.
func LooksVersioned(value string) bool {
	rest, ok := strings.CutPrefix(value, "ucs")
	if !ok {
		return false
	}
	digits := 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
		digits++
	}
	return digits > 0 && digits < len(rest) && rest[digits] == ':'
}

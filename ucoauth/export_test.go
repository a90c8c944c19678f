package ucoauth

import "golang.org/x/oauth2"

// Invalidate exposes invalidate to the external tests: a test stands in
// for the Transport, which tells the source that the API refused tok.
func Invalidate(s *TokenSource, tok *oauth2.Token) bool { return s.invalidate(tok) }

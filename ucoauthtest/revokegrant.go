package ucoauthtest

// RevokeGrant does what a merchant does by disconnecting the application in
// UltraCart: every grant of merchant dies at once, on the server's side.
// Its access tokens are refused by the API from then on (401
// invalid_token), and a refresh with any of its refresh tokens answers
// invalid_grant, so the client must have the merchant connect again; a new
// authorization (Issue, Authorize and an exchange, the device flow) works
// as before. It returns how many live grants it revoked, and counts nothing
// in Stats.
func (s *Server) RevokeGrant(merchant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[*grant]bool{}
	revoke := func(g *grant) {
		if g.merchant == merchant && !g.revoked && !seen[g] {
			seen[g] = true
			g.revoked = true
		}
	}
	for _, g := range s.refresh {
		revoke(g)
	}
	for _, a := range s.access {
		revoke(a.g)
	}
	return len(seen)
}

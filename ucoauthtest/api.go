package ucoauthtest

// RejectToken makes the API refuse the access token at (401, invalid_token)
// from now on while its grant and refresh token live on, as after UltraCart
// dropped the token or a refresh elsewhere superseded it. It reports whether
// the server had issued at.
func (s *Server) RejectToken(at string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.access[at]
	delete(s.access, at)
	return ok
}

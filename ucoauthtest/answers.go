package ucoauthtest

import (
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
)

// SetClientAuth makes the server accept the client's credentials only the
// way style says, as a real server that supports one method would:
// oauth2.AuthStyleInParams accepts client_id and client_secret in the form
// and refuses HTTP Basic; oauth2.AuthStyleInHeader accepts HTTP Basic (id
// and secret form-encoded first, RFC 6749 section 2.3.1) and refuses a
// client_secret in the form. oauth2.AuthStyleAutoDetect, the default,
// accepts either, but never both at once. A refusal is 401 invalid_client.
func (s *Server) SetClientAuth(style oauth2.AuthStyle) {
	s.mu.Lock()
	s.clientAuth = style
	s.mu.Unlock()
}

// SetRevokeAnswer sets how the revoke endpoint answers.
func (s *Server) SetRevokeAnswer(a RevokeAnswer) {
	s.mu.Lock()
	s.revokeAnswer = a
	s.mu.Unlock()
}

// Redirect returns a Failure that answers requests to path (relative to the
// base URL, "" for the token endpoint) with a redirect to location. Use it
// with FailNext: a client must never follow it.
func Redirect(path string, status int, location string) Failure {
	return Failure{Status: status, Path: path, Header: http.Header{"Location": {location}}}
}

// clientAuthOK checks the client's credentials against the configured
// style, and answers 401 invalid_client when they are refused.
func (s *Server) clientAuthOK(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	style := s.clientAuth
	s.mu.Unlock()
	refuse := func(desc string) bool {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", desc)
		return false
	}
	user, pass, basic := r.BasicAuth()
	formSecret, inForm := r.PostForm["client_secret"]
	switch {
	case basic && style == oauth2.AuthStyleInParams:
		return refuse("HTTP Basic client authentication is not accepted.")
	case !basic && style == oauth2.AuthStyleInHeader:
		return refuse("HTTP Basic client authentication is required.")
	case basic && inForm:
		return refuse("More than one client authentication method.")
	case basic:
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil || id != s.ClientID || secret != s.ClientSecret {
			return refuse("Wrong client credentials.")
		}
		if cid, ok := r.PostForm["client_id"]; ok && (len(cid) != 1 || cid[0] != id) {
			return refuse("client_id does not match the credentials.")
		}
		return true
	}
	if r.PostForm.Get("client_id") != s.ClientID {
		return refuse("Unknown client_id.")
	}
	if inForm && (len(formSecret) != 1 || formSecret[0] != s.ClientSecret) {
		return refuse("Wrong client_secret.")
	}
	return true
}

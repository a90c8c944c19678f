package squaretest

import (
	"net/http"
	"strings"

	"github.com/ucoauth/go-ucoauth/square"
)

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if s.intercept(w, r, "/oauth2/revoke") {
		return
	}
	s.mu.Lock()
	s.stats.Revoke++
	s.mu.Unlock()
	if r.Header.Get("Authorization") != "Client "+s.ClientSecret {
		writeError(w, http.StatusUnauthorized, authError, "UNAUTHORIZED", "Authorization header must be Client APPLICATION_SECRET")
		return
	}
	var req struct {
		ClientID        string `json:"client_id"`
		AccessToken     string `json:"access_token"`
		MerchantID      string `json:"merchant_id"`
		RevokeOnlyToken bool   `json:"revoke_only_access_token"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.ClientID != s.ClientID {
		writeError(w, http.StatusUnauthorized, authError, "UNAUTHORIZED", "Invalid client_id")
		return
	}
	if (req.AccessToken == "") == (req.MerchantID == "") {
		writeError(w, http.StatusBadRequest, invalidError, "INVALID_REQUEST", "Provide exactly one of access_token and merchant_id")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	merchant := req.MerchantID
	if req.AccessToken != "" {
		a := s.access[req.AccessToken]
		if a == nil {
			writeError(w, http.StatusNotFound, invalidError, "NOT_FOUND", "access token not found")
			return
		}
		merchant = a.g.merchant
	}
	s.revokeLocked(merchant, !req.RevokeOnlyToken)
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

// revokeLocked kills every access token of merchant and, when withRefresh,
// every refresh token: Square revokes merchant-wide, whichever token names
// the merchant. It returns how many tokens died.
func (s *Server) revokeLocked(merchant string, withRefresh bool) int {
	n := 0
	for k, a := range s.access {
		if a.g.merchant == merchant {
			delete(s.access, k)
			n++
		}
	}
	if withRefresh {
		for k, rt := range s.refresh {
			if rt.g.merchant == merchant {
				delete(s.refresh, k)
				n++
			}
		}
	}
	return n
}

// DisconnectMerchant plays the merchant revoking the application in
// Square's dashboard: every token of merchant dies. It returns how many.
// Send the webhook that tells the application with [Server.SendRevokedWebhook].
func (s *Server) DisconnectMerchant(merchant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revokeLocked(merchant, true)
}

// bearer returns the live access token of the request, or answers 401.
func (s *Server) bearer(w http.ResponseWriter, r *http.Request) *access {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	a := s.access[tok]
	now := s.now()
	s.mu.Unlock()
	switch {
	case !ok || a == nil:
		writeError(w, http.StatusUnauthorized, authError, "UNAUTHORIZED", "This request could not be authorized.")
		return nil
	case !now.Before(a.expiry):
		writeError(w, http.StatusUnauthorized, authError, "ACCESS_TOKEN_EXPIRED", "The access token has expired.")
		return nil
	}
	return a
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	if s.intercept(w, r, "/oauth2/token/status") {
		return
	}
	s.mu.Lock()
	s.stats.Status++
	s.mu.Unlock()
	a := s.bearer(w, r)
	if a == nil {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"scopes": a.g.scopes, "expires_at": rfc3339(a.expiry),
		"client_id": s.ClientID, "merchant_id": a.g.merchant,
	})
}

// api serves GET /v2/merchants/me, a protected call that needs a live
// access token, and 404 for every other /v2 path.
func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	if s.intercept(w, r, "/v2/") {
		return
	}
	s.mu.Lock()
	s.stats.API++
	s.mu.Unlock()
	a := s.bearer(w, r)
	if a == nil {
		return
	}
	if r.URL.Path != "/v2/merchants/me" {
		writeError(w, http.StatusNotFound, invalidError, "NOT_FOUND", "no such endpoint in squaretest")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"merchant": map[string]string{"id": a.g.merchant}})
}

// versionSeen records the request's Square-Version header.
func (s *Server) versionSeen(r *http.Request) {
	if v := r.Header.Get(square.HeaderVersion); v != "" {
		s.stats.LastVersion = v
	}
}

package ucoauthtest

// This file is the endpoints: authorize, token, revoke, device and the API.
// It uses responses.go.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ucoauth/go-ucoauth/internal/ultracart"
)

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.ClientID {
		writeUCError(w, http.StatusBadRequest, "Invalid client_id", "invalid_client")
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" {
		redirect = s.RedirectURL
	}
	target, err := url.Parse(redirect)
	if err != nil || target.Scheme == "" {
		writeUCError(w, http.StatusBadRequest, "Invalid redirect_uri", "invalid_request")
		return
	}
	v := target.Query()
	switch {
	case q.Get("response_type") != "code", q.Get("state") == "":
		v.Set("error", "invalid_request")
	default:
		merchant := q.Get("merchant_id")
		if merchant == "" {
			merchant = defaultMerchantID
		}
		c := newSecret("code")
		s.mu.Lock()
		s.codes[c] = &code{g: &grant{merchant: merchant, scope: q.Get("scope")}, redirectURI: q.Get("redirect_uri")}
		s.mu.Unlock()
		v.Set("code", c)
	}
	if st := q.Get("state"); st != "" {
		v.Set("state", st)
	}
	target.RawQuery = v.Encode()
	http.Redirect(w, r, target.String(), http.StatusTemporaryRedirect)
}

// intercept applies latency and injected failures. It reports whether it
// wrote the answer.
func (s *Server) intercept(w http.ResponseWriter, r *http.Request, path string) bool {
	s.mu.Lock()
	d := s.latency
	s.stats.LastSimpleKey = r.Header.Get(ultracart.HeaderSimpleKey)
	var f *Failure
	for i, p := range s.failures {
		if p.f.Path != path {
			continue
		}
		f = &p.f
		if p.n > 0 {
			p.n--
			if p.n == 0 {
				s.failures = append(s.failures[:i], s.failures[i+1:]...)
			}
		}
		s.stats.Injected++
		break
	}
	s.mu.Unlock()
	if d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return true
		}
	}
	if f == nil {
		return false
	}
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(f.Status)
	_, _ = w.Write([]byte(f.Body))
	return true
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	gt := r.PostForm.Get("grant_type")
	s.mu.Lock()
	s.stats.Token[statKey(s.stats.Token, gt)]++
	s.mu.Unlock()
	if s.intercept(w, r, "/oauth/token") {
		return
	}
	if !s.clientOK(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		g       *grant
		withRT  = true
		invalid = func(desc string) {
			s.stats.InvalidGrant++
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", desc)
		}
	)
	switch gt {
	case "authorization_code":
		c, ok := s.codes[r.PostForm.Get("code")]
		if !ok {
			invalid("The authorization code is invalid or was already used.")
			return
		}
		delete(s.codes, r.PostForm.Get("code"))
		if c.redirectURI != "" && r.PostForm.Get("redirect_uri") != c.redirectURI {
			invalid("redirect_uri does not match the authorize request.")
			return
		}
		g = c.g
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		var ok bool
		if g, ok = s.refresh[rt]; !ok || g.revoked {
			invalid("The refresh token is invalid, expired or was already used.")
			return
		}
		if s.rotate {
			delete(s.refresh, rt)
		} else {
			withRT = false
		}
		s.stats.RefreshTimes = append(s.stats.RefreshTimes, s.now())
	case ultracart.GrantTypeDeviceCode:
		d, ok := s.devices[r.PostForm.Get("device_code")]
		if !ok {
			writeOAuthError(w, http.StatusBadRequest, "expired_token", "The device code is unknown or expired.")
			return
		}
		// Approved after the first poll, so clients exercise the wait.
		if d.polls++; d.polls == 1 {
			writeOAuthError(w, http.StatusBadRequest, "authorization_pending", "The merchant has not approved yet.")
			return
		}
		delete(s.devices, r.PostForm.Get("device_code"))
		g = d.g
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
		return
	}
	at, rt, _ := s.issueLocked(g, withRT)
	body := map[string]json.RawMessage{
		"access_token": jsonString(at),
		"token_type":   jsonString("bearer"),
	}
	if rt != "" {
		body["refresh_token"] = jsonString(rt)
	}
	if g.scope != "" {
		body["scope"] = jsonString(g.scope)
	}
	if s.expiresIn != "" {
		body["expires_in"] = json.RawMessage(strings.ReplaceAll(s.expiresIn, "%d", secs(s.lifetime)))
	}
	writeJSON(w, http.StatusOK, body)
}

// statKey is the key gt is counted under in counts: itself, or "(other)"
// once it is too long or counts has too many keys. The grant types the fake
// serves always count under their own names.
func statKey(counts map[string]int, gt string) string {
	switch gt {
	case "authorization_code", "refresh_token", ultracart.GrantTypeDeviceCode:
		return gt
	}
	if _, ok := counts[gt]; ok || (len(gt) <= 64 && len(counts) < 32) {
		return gt
	}
	return "(other)"
}

// issueLocked mints an access token, and a refresh token when withRT.
func (s *Server) issueLocked(g *grant, withRT bool) (at, rt string, expiry time.Time) {
	at = newSecret("at")
	expiry = s.now().Add(s.lifetime)
	s.access[at] = &access{g: g, expiry: expiry}
	if withRT {
		rt = newSecret("rt")
		s.refresh[rt] = g
	}
	return at, rt, expiry
}

func (s *Server) clientOK(w http.ResponseWriter, r *http.Request) bool { return s.clientAuthOK(w, r) }

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeUCError(w, http.StatusBadRequest, "bad form", "invalid_request")
		return
	}
	refresh := r.PostForm.Get("token_type_hint") == "refresh_token"
	s.mu.Lock()
	if refresh {
		s.stats.RevokeRefresh++
	} else {
		s.stats.Revoke++
	}
	s.mu.Unlock()
	if s.intercept(w, r, "/oauth/revoke") || !s.clientOK(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := r.PostForm.Get("token")
	a, ok := s.access[tok]
	switch s.revokeAnswer {
	case RevokeRFC7009:
		// RFC 7009 2.1: a refresh token's grant goes with it; an access
		// token's too, here (the server may).
		if ok {
			a.g.revoked = true
		} else if g, isRT := s.refresh[tok]; isRT {
			g.revoked = true
		}
		w.WriteHeader(http.StatusOK) // RFC 7009 2.2: known or not
		return
	case RevokeAccessOnly:
		if !ok && s.refresh[tok] != nil {
			writeOAuthError(w, http.StatusBadRequest, "unsupported_token_type", "Refresh tokens cannot be revoked.")
			return
		}
		delete(s.access, tok)
		w.WriteHeader(http.StatusOK)
		return
	case RevokeRFC7009Strict:
		if ok {
			delete(s.access, tok)
		} else {
			delete(s.refresh, tok)
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if !ok || a.g.revoked {
		writeUCError(w, http.StatusUnauthorized, "Invalid or revoked access token.", "invalid_token")
		return
	}
	a.g.revoked = true
	writeJSON(w, http.StatusOK, map[string]any{"successful": true, "message": "OAuth application revoked."})
}

func (s *Server) deviceAuthorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeUCError(w, http.StatusBadRequest, "bad form", "invalid_request")
		return
	}
	if s.intercept(w, r, "/oauth/device/authorize") || !s.clientOK(w, r) {
		return
	}
	dc, uc := newSecret("dc"), strings.ToUpper(newSecret("")[:8])
	s.mu.Lock()
	s.devices[dc] = &device{g: &grant{merchant: defaultMerchantID, scope: r.PostForm.Get("scope")}}
	s.mu.Unlock()
	// RFC 8628 numbers, so that x/oauth2's DeviceAuth can read them.
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":               dc,
		"user_code":                 uc,
		"verification_uri":          s.BaseURL() + "/oauth/device",
		"verification_uri_complete": s.BaseURL() + "/oauth/device?user_code=" + uc,
		"expires_in":                600,
		"interval":                  1,
	})
}

// api is the protected API: any other path under /rest/v2/. It checks the
// API version header and the bearer token, as UltraCart does.
func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.API++
	s.mu.Unlock()
	reject := func(status int, msg, code string) {
		s.mu.Lock()
		s.stats.APIRejected++
		s.mu.Unlock()
		writeUCError(w, status, msg, code)
	}
	if v := r.Header.Get(ultracart.HeaderAPIVersion); v != ultracart.APIVersion {
		reject(http.StatusBadRequest, "Requests will FAIL if a X-UltraCart-Api-Version is not specified.", "missing_api_version")
		return
	}
	auth := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(auth, " ")
	s.mu.Lock()
	a, ok := s.access[tok]
	valid := ok && strings.EqualFold(scheme, "Bearer") && !a.g.revoked && s.now().Before(a.expiry)
	s.mu.Unlock()
	if !valid {
		reject(http.StatusUnauthorized, "Invalid, expired or revoked access token.", "invalid_token")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "merchant_id": a.g.merchant, "path": r.URL.Path})
}

package squaretest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ucoauth/go-ucoauth/square"
	"golang.org/x/oauth2"
)

// Square's error categories and the codes the fake answers with.
const (
	authError    = "AUTHENTICATION_ERROR"
	invalidError = "INVALID_REQUEST_ERROR"
)

// codeLifetime is how long an authorization code lives at Square.
const codeLifetime = 5 * time.Minute

// Authorize plays the merchant's browser: it follows cfg's authorize link
// with state and opts (such as oauth2.S256ChallengeOption for PKCE, or
// square.SessionFalse), lets the server approve for merchant (""
// is DefaultMerchantID), and returns the code from the redirect.
func (s *Server) Authorize(ctx context.Context, cfg *oauth2.Config, state, merchant string, opts ...oauth2.AuthCodeOption) (string, error) {
	u := cfg.AuthCodeURL(state, opts...)
	if merchant != "" {
		u += "&squaretest_merchant=" + url.QueryEscape(merchant)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return "", fmt.Errorf("squaretest: authorize answered %d without a redirect", resp.StatusCode)
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("squaretest: authorize refused: %s", e)
	}
	if q.Get("state") != state {
		return "", errors.New("squaretest: authorize returned the wrong state")
	}
	return q.Get("code"), nil
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.ClientID {
		writeError(w, http.StatusBadRequest, invalidError, "INVALID_VALUE", "unknown client_id")
		return
	}
	target, err := url.Parse(s.RedirectURL)
	if ru := q.Get("redirect_uri"); ru != "" && ru != s.RedirectURL {
		err = errors.New("redirect_uri differs from the registered one")
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, invalidError, "INVALID_VALUE", "invalid redirect_uri")
		return
	}
	v := target.Query()
	m := q.Get("code_challenge_method")
	switch {
	case q.Get("state") == "":
		v.Set("error", "invalid_request")
	case q.Get("code_challenge") != "" && m != "S256":
		v.Set("error", "invalid_request") // Square supports S256 only
	default:
		merchant := q.Get("squaretest_merchant")
		if merchant == "" {
			merchant = DefaultMerchantID
		}
		c := newSecret("sq0cgp-")
		g := &grant{merchant: merchant, scopes: strings.Fields(q.Get("scope")), pkce: q.Get("code_challenge") != ""}
		s.mu.Lock()
		s.codes[c] = &code{g: g, redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge"),
			expiry: s.now().Add(codeLifetime)}
		s.mu.Unlock()
		v.Set("code", c)
		v.Set("response_type", "code")
	}
	v.Set("state", q.Get("state"))
	target.RawQuery = v.Encode()
	http.Redirect(w, r, target.String(), http.StatusFound)
}

// tokenRequest is ObtainToken's body as the fake reads it: typed, so that
// a field of the wrong JSON type is refused as Square refuses it.
type tokenRequest struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	GrantType    string   `json:"grant_type"`
	Code         string   `json:"code"`
	RefreshToken string   `json:"refresh_token"`
	RedirectURI  string   `json:"redirect_uri"`
	CodeVerifier string   `json:"code_verifier"`
	Scopes       []string `json:"scopes"`
	ShortLived   bool     `json:"short_lived"`
}

// readJSON reads a JSON body, answering Square's errors for the wrong
// content type or shape.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeError(w, http.StatusBadRequest, invalidError, "INVALID_CONTENT_TYPE", "Content-Type must be application/json")
		return false
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, invalidError, "INVALID_VALUE", "the body is not the expected JSON object")
		return false
	}
	return true
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if s.intercept(w, r, "/oauth2/token") {
		return
	}
	var req tokenRequest
	if !readJSON(w, r, &req) {
		s.count("(other)")
		return
	}
	gt := req.GrantType
	if gt != square.GrantAuthorizationCode && gt != square.GrantRefreshToken {
		gt = "(other)"
	}
	s.count(gt)
	if req.ClientID != s.ClientID {
		writeError(w, http.StatusUnauthorized, authError, "UNAUTHORIZED", "Invalid client_id")
		return
	}
	if req.ClientSecret != "" && req.ClientSecret != s.ClientSecret {
		writeError(w, http.StatusUnauthorized, authError, "UNAUTHORIZED", "Invalid client_secret")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var g *grant
	switch gt {
	case square.GrantAuthorizationCode:
		c := s.codes[req.Code]
		delete(s.codes, req.Code) // single use, even when refused below
		switch {
		case c == nil || !s.now().Before(c.expiry):
			s.stats.InvalidGrant++
			writeError(w, http.StatusUnauthorized, authError, "UNAUTHORIZED", "Invalid or expired authorization code")
			return
		case c.redirectURI != "" && req.RedirectURI != c.redirectURI:
			writeError(w, http.StatusBadRequest, invalidError, "INVALID_VALUE", "redirect_uri does not match the authorize request")
			return
		case c.challenge != "" && challenge(req.CodeVerifier) != c.challenge:
			s.stats.InvalidGrant++
			writeError(w, http.StatusUnauthorized, authError, "UNAUTHORIZED", "Invalid code_verifier")
			return
		case c.challenge == "" && req.ClientSecret == "":
			writeError(w, http.StatusBadRequest, invalidError, "MISSING_REQUIRED_PARAMETER", "Missing client_secret")
			return
		}
		g = c.g
	case square.GrantRefreshToken:
		rt := s.refresh[req.RefreshToken]
		switch {
		case rt == nil:
			s.stats.InvalidGrant++
			writeError(w, http.StatusUnauthorized, authError, "UNAUTHORIZED", "Invalid refresh token")
			return
		case rt.used:
			s.stats.InvalidGrant++
			s.stats.Reused++
			writeError(w, http.StatusUnauthorized, authError, "UNAUTHORIZED", "Refresh token already used")
			return
		case !rt.expiry.IsZero() && !s.now().Before(rt.expiry):
			s.stats.InvalidGrant++
			writeError(w, http.StatusUnauthorized, authError, "UNAUTHORIZED", "Refresh token expired")
			return
		case !rt.g.pkce && req.ClientSecret == "":
			writeError(w, http.StatusBadRequest, invalidError, "MISSING_REQUIRED_PARAMETER", "Missing client_secret")
			return
		}
		g = rt.g
		s.stats.RefreshTimes = append(s.stats.RefreshTimes, s.now())
		if len(s.stats.RefreshTimes) > 4096 {
			s.stats.RefreshTimes = s.stats.RefreshTimes[1:]
		}
	default:
		writeError(w, http.StatusBadRequest, invalidError, "INVALID_VALUE", "unsupported grant_type")
		return
	}
	for _, sc := range req.Scopes {
		if !slices.Contains(g.scopes, sc) {
			writeError(w, http.StatusBadRequest, invalidError, "INVALID_SCOPE", "scopes must be a subset of the authorized ones")
			return
		}
	}
	keep := ""
	if gt == square.GrantRefreshToken && !g.pkce {
		keep = req.RefreshToken // the code flow answers the same refresh token
	} else if gt == square.GrantRefreshToken {
		s.refresh[req.RefreshToken].used = true
	}
	ans := s.answerLocked(g, keep, req.ShortLived)
	if len(req.Scopes) > 0 {
		s.access[ans.AccessToken].g = &grant{merchant: g.merchant, scopes: req.Scopes, pkce: g.pkce}
	}
	writeJSON(w, http.StatusOK, ans)
}

// answer is ObtainToken's answer.
type answer struct {
	AccessToken           string `json:"access_token"`
	TokenType             string `json:"token_type"`
	ExpiresAt             string `json:"expires_at"`
	MerchantID            string `json:"merchant_id"`
	RefreshToken          string `json:"refresh_token"`
	ShortLived            bool   `json:"short_lived"`
	RefreshTokenExpiresAt string `json:"refresh_token_expires_at,omitempty"`
}

// answerLocked issues an access token (and a refresh token unless keep is
// the code flow's reused one) for g.
func (s *Server) answerLocked(g *grant, keep string, shortLived bool) answer {
	now := s.now()
	life := s.lifetime
	if shortLived {
		life = min(life, square.ShortLivedLifetime)
	}
	at := newSecret("EAAAl")
	s.access[at] = &access{g: g, expiry: now.Add(life)}
	a := answer{AccessToken: at, TokenType: "bearer", ExpiresAt: rfc3339(now.Add(life)),
		MerchantID: g.merchant, RefreshToken: keep, ShortLived: shortLived}
	if keep == "" {
		a.RefreshToken = newSecret("EQAAl")
		rt := &refreshToken{g: g}
		if g.pkce {
			rt.expiry = now.Add(square.PKCERefreshTokenLifetime)
			a.RefreshTokenExpiresAt = rfc3339(rt.expiry)
		}
		s.refresh[a.RefreshToken] = rt
	}
	return a
}

// rfc3339 is Square's timestamp: UTC, whole seconds, Z.
func rfc3339(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// challenge is the S256 PKCE challenge of verifier.
func challenge(verifier string) string {
	if verifier == "" {
		return "\x00" // never equal to a real challenge
	}
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func (s *Server) count(gt string) {
	s.mu.Lock()
	s.stats.Token[gt]++
	s.mu.Unlock()
}

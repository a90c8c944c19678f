// Command webapp is the connect flow of a web application serving many
// merchants: a merchant clicks "connect", approves at UltraCart, and the app
// calls UltraCart's API for them from then on, until they disconnect.
//
//	go run ./examples/webapp    # then open http://127.0.0.1:8080/
//
// Without ULTRACART_CLIENT_ID it runs against an embedded fake UltraCart
// that approves at once. With ULTRACART_CLIENT_ID, ULTRACART_CLIENT_SECRET
// and ULTRACART_REDIRECT_URL (pointing at this app's /callback) it uses the
// real one. Tokens are kept in a file store under ./tokens, which .gitignore
// keeps out of git: they are live credentials. UCOAUTH_SEAL_KEYS, when set,
// seals them at rest (see tokenstore.ParseSealKeys).
//
// The habits it teaches:
//   - The merchant a grant belongs to comes from the grant: after the
//     exchange the app asks UltraCart's API, with the new token, which
//     merchant it is. A ?merchant= parameter would let anyone file their
//     grant under someone else's name.
//   - The state is random, kept in an HttpOnly cookie and compared in
//     constant time.
//   - Who is signed in is a signed session cookie, never a query parameter.
//   - Disconnecting changes state, so it is a POST only, with a CSRF token
//     tied to the session, http.CrossOriginProtection and SameSite cookies.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
	"golang.org/x/oauth2"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	dir := flag.String("tokens", "tokens", "token directory (ignored by git)")
	flag.Parse()

	file, err := tokenstore.NewFile(*dir)
	if err != nil {
		log.Fatal(err)
	}
	store, err := sealFromEnv(file)
	if err != nil {
		log.Fatal(err)
	}
	cfg, apiBase := ucoauth.NewConfig(os.Getenv("ULTRACART_CLIENT_ID"), os.Getenv("ULTRACART_CLIENT_SECRET"),
		os.Getenv("ULTRACART_REDIRECT_URL"), ucoauth.ScopeOrderRead), ucoauth.BaseURL
	if cfg.ClientID == "" {
		fake := ucoauthtest.NewServer()
		defer fake.Close()
		cfg, apiBase = fake.Config(ucoauth.ScopeOrderRead), fake.BaseURL()
		cfg.RedirectURL = "http://" + *addr + "/callback"
		log.Printf("no ULTRACART_CLIENT_ID: using an embedded fake UltraCart at %s", fake.URL)
	}
	a, err := newApp(cfg, store, apiBase)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("open http://%s/", *addr)
	srv := &http.Server{Addr: *addr, Handler: a.routes(), ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

type app struct {
	cfg     *oauth2.Config
	store   ucoauth.TokenStore
	mgr     *ucoauth.Manager
	apiBase string
	// sessionKey signs session cookies and CSRF tokens. It is random per
	// run here, so sessions end with the process; a real app keeps its own.
	sessionKey []byte
}

func newApp(cfg *oauth2.Config, store ucoauth.TokenStore, apiBase string) (*app, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &app{cfg: cfg, store: store, mgr: ucoauth.NewManager(cfg, store), apiBase: apiBase, sessionKey: key}, nil
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /connect", a.connect)
	mux.HandleFunc("GET /callback", a.callback)
	mux.HandleFunc("GET /orders", a.orders)
	mux.HandleFunc("POST /disconnect", a.disconnect) // GET answers 405
	// The standard library's CSRF guard: a browser's POST from another
	// origin (Sec-Fetch-Site or Origin) is refused before any handler runs.
	return http.NewCrossOriginProtection().Handler(mux)
}

const (
	stateCookie   = "ucoauth_state"
	sessionCookie = "ucoauth_session"
)

var homePage = template.Must(template.New("home").Parse(`<!doctype html>
<title>UltraCart connect</title>
{{if .Merchant}}<p>Connected as {{.Merchant}}. <a href="/orders">Orders</a></p>
<form method="post" action="/disconnect">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<button>Disconnect</button>
</form>
{{else}}<p><a href="/connect">Connect your UltraCart account</a></p>
{{end}}`))

// home shows who is connected, with the disconnect form.
func (a *app) home(w http.ResponseWriter, r *http.Request) {
	merchant, _ := a.session(r)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = homePage.Execute(w, map[string]string{"Merchant": merchant, "CSRF": a.sign("csrf", merchant)})
}

// connect sends the merchant to UltraCart with a fresh state, remembered in
// a cookie that only /callback sees. It asks nothing about who is
// connecting: the grant will say.
func (a *app) connect(w http.ResponseWriter, r *http.Request) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		http.Error(w, "no randomness", http.StatusInternalServerError)
		return
	}
	state := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: state, Path: "/callback", MaxAge: 600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	http.Redirect(w, r, a.cfg.AuthCodeURL(state), http.StatusFound)
}

// callback checks the state, exchanges the code, learns from UltraCart
// which merchant granted it, stores the token under that merchant and signs
// them in.
func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c, err := r.Cookie(stateCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(q.Get("state"))) != 1 {
		http.Error(w, "bad state: start again at /connect", http.StatusBadRequest)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Path: "/callback", MaxAge: -1})
	if e := q.Get("error"); e != "" { // access_denied, or invalid_request: the link expired
		http.Error(w, "UltraCart says: "+e, http.StatusForbidden)
		return
	}
	tok, err := ucoauth.Exchange(r.Context(), a.cfg, q.Get("code"))
	if tok == nil {
		http.Error(w, "connecting failed: "+err.Error(), http.StatusBadGateway)
		return
	}
	if err != nil { // a usable token with an unreadable expires_in: keep it
		log.Printf("connect: %v", err)
	}
	merchant, err := a.merchantOf(r.Context(), tok)
	if err != nil {
		// A grant nobody can file is revoked rather than left dangling.
		_ = ucoauth.Revoke(r.Context(), a.cfg, tok.AccessToken)
		http.Error(w, "could not tell which merchant connected: "+err.Error(), http.StatusBadGateway)
		return
	}
	if err := a.store.Save(r.Context(), merchant, tok); err != nil {
		http.Error(w, "saving the token failed", http.StatusInternalServerError)
		return
	}
	a.mgr.Forget(merchant) // a reconnect replaces any dead source
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: hex.EncodeToString([]byte(merchant)) + "." + a.sign("session", merchant),
		Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// merchantOf asks UltraCart's API, with the new token, which merchant the
// grant belongs to. The fake answers every API call with the grant's
// merchant_id; UltraCart's order records carry merchant_id too. Against
// UltraCart itself, use whatever call your application's scopes allow whose
// answer names the merchant (this example has not been run there).
func (a *app) merchantOf(ctx context.Context, tok *oauth2.Token) (string, error) {
	// A static source has no token endpoint to take the API's origin from:
	// name it, or the transport sends the token nowhere but UltraCart.
	client := &http.Client{Transport: &ucoauth.Transport{Source: oauth2.StaticTokenSource(tok), Origin: a.apiBase}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.apiBase+"/order/orders?_limit=1", nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// The code, not resp.Status: the reason phrase is the server's
		// free text, and the page shows this error.
		return "", fmt.Errorf("UltraCart's API answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	var body struct {
		MerchantID string `json:"merchant_id"`
		Orders     []struct {
			MerchantID string `json:"merchant_id"`
		} `json:"orders"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return "", errors.New("UltraCart's API answer is not JSON")
	}
	m := body.MerchantID
	if m == "" && len(body.Orders) > 0 {
		m = body.Orders[0].MerchantID
	}
	if m == "" {
		return "", errors.New("UltraCart's API answer names no merchant")
	}
	return m, nil
}

// orders calls UltraCart's API for the signed-in merchant. The token is
// refreshed, persisted and shared behind the scenes.
func (a *app) orders(w http.ResponseWriter, r *http.Request) {
	merchant, ok := a.session(r)
	if !ok {
		http.Error(w, "not signed in: connect first at /connect", http.StatusUnauthorized)
		return
	}
	client := ucoauth.NewClient(r.Context(), a.mgr.Source(merchant))
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, a.apiBase+"/order/orders?_limit=1", nil)
	resp, err := client.Do(req)
	switch {
	case errors.Is(err, ucoauth.ErrTokenNotFound), errors.Is(err, ucoauth.ErrReauthorizationRequired):
		http.Error(w, merchant+" is not connected: connect again at /connect", http.StatusConflict)
		return
	case err != nil:
		http.Error(w, "UltraCart unreachable", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, 1<<20))
}

// disconnect revokes the signed-in merchant's grant and forgets the token.
// It is a POST only, refused cross-origin (see routes), and needs the
// session's CSRF token: a link or a form on another site cannot disconnect
// anyone.
func (a *app) disconnect(w http.ResponseWriter, r *http.Request) {
	merchant, ok := a.session(r)
	if !ok {
		http.Error(w, "not signed in", http.StatusUnauthorized)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(a.sign("csrf", merchant))) != 1 {
		http.Error(w, "forbidden: disconnect from the app's own page", http.StatusForbidden)
		return
	}
	if err := a.mgr.Source(merchant).Revoke(r.Context()); err != nil {
		http.Error(w, "disconnecting failed, try again: "+err.Error(), http.StatusBadGateway)
		return
	}
	a.mgr.Forget(merchant)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// session returns the signed-in merchant from the session cookie.
func (a *app) session(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	merchantHex, sig, _ := strings.Cut(c.Value, ".")
	merchant, err := hex.DecodeString(merchantHex)
	if err != nil || len(merchant) == 0 || !hmac.Equal([]byte(sig), []byte(a.sign("session", string(merchant)))) {
		return "", false
	}
	return string(merchant), true
}

// sign is an HMAC of merchant for one purpose (session or csrf), so that
// neither can stand in for the other.
func (a *app) sign(purpose, merchant string) string {
	m := hmac.New(sha256.New, a.sessionKey)
	m.Write([]byte(purpose + "\x00" + merchant))
	return hex.EncodeToString(m.Sum(nil))
}

// sealFromEnv seals the store with the keys in UCOAUTH_SEAL_KEYS
// ("k2:BASE64,k1:BASE64", primary first), when it is set.
func sealFromEnv(store ucoauth.TokenStore) (ucoauth.TokenStore, error) {
	keys := os.Getenv("UCOAUTH_SEAL_KEYS")
	if keys == "" {
		return store, nil
	}
	k, err := tokenstore.ParseSealKeys(keys)
	if err != nil {
		return nil, fmt.Errorf("UCOAUTH_SEAL_KEYS: %w", err)
	}
	return tokenstore.Seal(store, k[0], k[1:]...)
}

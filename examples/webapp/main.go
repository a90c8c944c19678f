// Command webapp is the connect flow of a web application serving many
// merchants: a merchant clicks "connect", approves at UltraCart, and the app
// calls UltraCart's API for them from then on, until they disconnect.
//
//	go run ./examples/webapp    # then open http://127.0.0.1:8080/connect?merchant=DEMO
//
// Without ULTRACART_CLIENT_ID it runs against an embedded fake UltraCart
// that approves at once. With ULTRACART_CLIENT_ID, ULTRACART_CLIENT_SECRET
// and ULTRACART_REDIRECT_URL (pointing at this app's /callback) it uses the
// real one. Tokens are kept in a file store under ./tokens.
package main

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
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
	dir := flag.String("tokens", "tokens", "token directory")
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
	log.Printf("open http://%s/connect?merchant=DEMO", *addr)
	srv := &http.Server{Addr: *addr, Handler: newApp(cfg, store, apiBase).routes(), ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

type app struct {
	cfg     *oauth2.Config
	store   ucoauth.TokenStore
	mgr     *ucoauth.Manager
	apiBase string
}

func newApp(cfg *oauth2.Config, store ucoauth.TokenStore, apiBase string) *app {
	return &app{cfg: cfg, store: store, mgr: ucoauth.NewManager(cfg, store), apiBase: apiBase}
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /connect", a.connect)
	mux.HandleFunc("GET /callback", a.callback)
	mux.HandleFunc("GET /orders", a.orders)
	mux.HandleFunc("POST /disconnect", a.disconnect)
	return mux
}

const stateCookie = "ucoauth_state"

// connect sends the merchant to UltraCart with a fresh state, remembered in
// a cookie together with who is connecting.
func (a *app) connect(w http.ResponseWriter, r *http.Request) {
	merchant := r.URL.Query().Get("merchant")
	if merchant == "" {
		http.Error(w, "merchant is required", http.StatusBadRequest)
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	state := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: state + "." + hex.EncodeToString([]byte(merchant)),
		Path: "/callback", MaxAge: 600, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	http.Redirect(w, r, a.cfg.AuthCodeURL(state), http.StatusFound)
}

// callback checks the state, exchanges the code and stores the token.
func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" { // access_denied, or invalid_request: the link expired
		http.Error(w, "UltraCart says: "+e, http.StatusForbidden)
		return
	}
	c, err := r.Cookie(stateCookie)
	state, merchantHex, _ := strings.Cut(func() string {
		if err != nil {
			return ""
		}
		return c.Value
	}(), ".")
	merchant, herr := hex.DecodeString(merchantHex)
	if state == "" || herr != nil || subtle.ConstantTimeCompare([]byte(state), []byte(q.Get("state"))) != 1 {
		http.Error(w, "bad state: start again at /connect", http.StatusBadRequest)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Path: "/callback", MaxAge: -1})
	tok, err := ucoauth.Exchange(r.Context(), a.cfg, q.Get("code"))
	if tok == nil {
		http.Error(w, "connecting failed: "+err.Error(), http.StatusBadGateway)
		return
	}
	if err != nil { // a usable token with an unreadable expires_in: keep it
		log.Printf("connect %s: %v", merchant, err)
	}
	if err := a.store.Save(r.Context(), string(merchant), tok); err != nil {
		http.Error(w, "saving the token failed", http.StatusInternalServerError)
		return
	}
	a.mgr.Forget(string(merchant)) // a reconnect replaces any dead source
	fmt.Fprintf(w, "connected %s\n", merchant)
}

// orders calls UltraCart's API for a merchant. The token is refreshed,
// persisted and shared behind the scenes.
func (a *app) orders(w http.ResponseWriter, r *http.Request) {
	merchant := r.URL.Query().Get("merchant")
	client := ucoauth.NewClient(r.Context(), a.mgr.Source(merchant))
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, a.apiBase+"/order/orders?_limit=1", nil)
	resp, err := client.Do(req)
	switch {
	case errors.Is(err, ucoauth.ErrTokenNotFound), errors.Is(err, ucoauth.ErrReauthorizationRequired):
		http.Error(w, merchant+" is not connected: /connect?merchant="+merchant, http.StatusConflict)
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

// disconnect revokes the merchant's grant and forgets the token.
func (a *app) disconnect(w http.ResponseWriter, r *http.Request) {
	merchant := r.URL.Query().Get("merchant")
	if err := a.mgr.Source(merchant).Revoke(r.Context()); err != nil {
		http.Error(w, "disconnecting failed, try again: "+err.Error(), http.StatusBadGateway)
		return
	}
	a.mgr.Forget(merchant)
	fmt.Fprintf(w, "disconnected %s\n", merchant)
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

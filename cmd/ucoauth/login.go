package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

const loginHelp = `Connects a merchant and saves the token in the store under -key.

Prints UltraCart's authorize link and opens it in a browser (xdg-open, open
or rundll32; a failure to open is not fatal). After the merchant approves,
UltraCart redirects to http://127.0.0.1:PORT/callback, where ucoauth listens
(-listen): it checks the state in constant time, exchanges the code and saves
the token. Register that redirect URL for the application, with a fixed
port: -listen 127.0.0.1:PORT.

With -no-browser it prints the link and what to do with it: open it in a
browser on this machine (the redirect comes back to this machine only), or
forward the port; against "ucoauth fake", which approves at once, following
the link with curl completes the login (the command prints that line).

With -device it runs UltraCart's device flow instead: it prints a code and a
link for the merchant to open on any device, and waits for the approval.
`

func runLogin(e *env, args []string) error {
	fs := newFlagSet(e, "login", "-key KEY [flags]", loginHelp)
	var s settings
	key := fs.String("key", "", "store the token under this key, usually the merchant ID (required)")
	noBrowser := fs.Bool("no-browser", false, "print the link only; do not open a browser")
	device := fs.Bool("device", false, "use the device flow: a code to enter on any device, no redirect")
	listen := fs.String("listen", "127.0.0.1:0", "loopback address of the redirect listener; port 0 picks a free one")
	scope := fs.String("scope", "", "scopes to ask for, comma or space separated (default: the application's own)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	s.storeFlag(fs)
	s.endpointFlags(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("login takes no arguments, got %q (the key goes in -key)", fs.Arg(0))
	}
	if *key == "" {
		return usageErrorf("-key is required: the store key to save the token under")
	}
	if *timeout <= 0 {
		return usageErrorf("-timeout must be positive")
	}
	s.resolve(e.getenv)
	cfg, err := s.config(strings.FieldsFunc(*scope, func(r rune) bool { return r == ',' || r == ' ' })...)
	if err != nil {
		return err
	}
	store, closeStore, err := openStore(s.store, e.getenv(envSealKeys), e.stderr)
	if err != nil {
		return err
	}
	defer closeStore()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	l := &login{e: e, cfg: cfg, store: store, key: *key}
	if *device {
		return l.device(ctx)
	}
	return l.browser(ctx, *listen, !*noBrowser)
}

// login is one run of the login command.
type login struct {
	e     *env
	cfg   *oauth2.Config
	store ucoauth.TokenStore
	key   string
}

// browser runs the authorization code flow with a loopback redirect.
func (l *login) browser(ctx context.Context, listen string, open bool) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || !loopback(host) {
		return usageErrorf("-listen must be a loopback address such as 127.0.0.1:0, got %q", listen)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening for the redirect: %w", err)
	}
	l.cfg.RedirectURL = "http://" + ln.Addr().String() + "/callback"
	state, err := randomState()
	if err != nil {
		ln.Close()
		return err
	}
	authURL := l.cfg.AuthCodeURL(state)

	done := make(chan error, 1)
	var (
		mu       sync.Mutex
		finished bool // one code is exchanged, then the listener only refuses
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
			page(w, http.StatusBadRequest, "This answer does not belong to the link ucoauth printed (state mismatch). Ignored.")
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if finished {
			page(w, http.StatusGone, "This login is already over.")
			return
		}
		finished = true
		var err error
		if e := q.Get("error"); e != "" {
			err = fmt.Errorf("UltraCart refused: %s (access_denied: the merchant said no; invalid_request: the link expired)", oneLine(e))
		} else if q.Get("code") == "" {
			err = errors.New("UltraCart's redirect carries neither a code nor an error")
		} else {
			err = l.exchange(ctx, q.Get("code")) // not the browser's context: it may hang up
		}
		if err != nil {
			page(w, http.StatusBadGateway, "Connecting failed: "+err.Error())
		} else {
			page(w, http.StatusOK, "Connected "+l.key+". You can close this window.")
		}
		done <- err
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	deadline, _ := ctx.Deadline()
	fmt.Fprintf(l.e.stderr, "To connect %s, open this link (waiting until %s):\n\n  %s\n\n", l.key, deadline.Format(time.TimeOnly), authURL)
	if open {
		if err := openBrowser(authURL); err != nil {
			fmt.Fprintf(l.e.stderr, "Could not open a browser (%v); open the link yourself.\n", err)
		}
	} else {
		fmt.Fprint(l.e.stderr, noBrowserHelp(authURL, ln.Addr().String()))
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer from UltraCart's redirect: %w", context.Cause(ctx))
	}
}

// noBrowserHelp says, at once, what to do with the link when no browser
// opens it: the redirect comes back to a listener only this machine reaches.
// An authorize endpoint on loopback is a fake UltraCart (ucoauth fake) or a
// development server: the fake approves at once, so following the link
// with curl completes the login.
func noBrowserHelp(authURL, listener string) string {
	_, port, _ := net.SplitHostPort(listener)
	var b strings.Builder
	fmt.Fprintf(&b, "Open the link in a browser on this machine: UltraCart redirects back to http://%s/callback, which only this machine reaches.\n", listener)
	fmt.Fprintf(&b, "From another machine, forward the port first (ssh -L %s:127.0.0.1:%s THIS-HOST), or log in with -device instead.\n", port, port)
	if u, err := url.Parse(authURL); err == nil && loopback(u.Hostname()) && !strings.Contains(authURL, "'") {
		fmt.Fprintf(&b, "This UltraCart is on loopback: a fake (ucoauth fake) approves at once, so this completes the login from another shell:\n\n  curl -sSL -o /dev/null '%s'\n\n", authURL)
	}
	return b.String()
}

// exchange trades the code for a token and saves it.
func (l *login) exchange(ctx context.Context, code string) error {
	tok, err := ucoauth.Exchange(ctx, l.cfg, code)
	if tok == nil {
		return err
	}
	if err != nil { // ErrBadExpiresIn: the token is good, its lifetime a guess
		fmt.Fprintf(l.e.stderr, "warning: %s\n", oneLine(err.Error()))
	}
	return l.save(ctx, tok)
}

func (l *login) save(ctx context.Context, tok *oauth2.Token) error {
	if err := l.store.Save(ctx, l.key, tok); err != nil {
		if errors.Is(err, ucoauth.ErrSuperseded) {
			return fmt.Errorf("the store already holds a token for %q that expires later; revoke it first (ucoauth revoke %s): %w", l.key, l.key, err)
		}
		return fmt.Errorf("saving the token: %w", err)
	}
	fmt.Fprintf(l.e.stderr, "Saved the token for %s: %s.\n", l.key, describe(tok))
	return nil
}

// device runs the device flow.
func (l *login) device(ctx context.Context) error {
	// The library's, not x/oauth2's cfg.DeviceAuth: that one cannot read
	// UltraCart's numbers-as-strings, and follows redirects.
	da, err := ucoauth.DeviceAuth(ctx, l.cfg)
	if err != nil {
		return fmt.Errorf("starting the device flow: %w", err)
	}
	fmt.Fprintf(l.e.stderr, "To connect %s, open %s and enter the code %s\n", l.key, oneLine(da.VerificationURI), oneLine(da.UserCode))
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(l.e.stderr, "(or open %s)\n", oneLine(da.VerificationURIComplete))
	}
	stop := countdown(ctx, l.e.stderr, da.Expiry)
	tok, err := ucoauth.DeviceAccessToken(ctx, l.cfg, da)
	stop()
	if tok == nil {
		return fmt.Errorf("waiting for approval: %w", err)
	}
	if err != nil {
		fmt.Fprintf(l.e.stderr, "warning: %s\n", oneLine(err.Error()))
	}
	return l.save(ctx, tok)
}

// countdown shows how long the device code has left: updated in place each
// second on a terminal, one line every 30 seconds otherwise. stop ends it.
func countdown(ctx context.Context, w io.Writer, expiry time.Time) (stop func()) {
	if d, ok := ctx.Deadline(); ok && (expiry.IsZero() || d.Before(expiry)) {
		expiry = d
	}
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	every := 30 * time.Second
	if tty {
		every = time.Second
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			left := time.Until(expiry).Round(time.Second)
			if tty {
				fmt.Fprintf(w, "\rWaiting for approval: %s left  ", left)
			} else {
				fmt.Fprintf(w, "Waiting for approval: %s left\n", left)
			}
			select {
			case <-quit:
				if tty {
					fmt.Fprintln(w)
				}
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// describe summarises a token without revealing it.
func describe(tok *oauth2.Token) string {
	parts := []string{"access " + ucoauth.Fingerprint(tok.AccessToken)}
	if tok.RefreshToken != "" {
		parts = append(parts, "refresh "+ucoauth.Fingerprint(tok.RefreshToken))
	} else {
		parts = append(parts, "no refresh token")
	}
	if !tok.Expiry.IsZero() {
		parts = append(parts, "expires "+tok.Expiry.Local().Format(time.RFC3339))
	}
	if sc := scopeOf(tok); sc != "" {
		parts = append(parts, "scope "+oneLine(sc))
	}
	return strings.Join(parts, ", ")
}

// scopeOf returns the scope UltraCart granted, as the stores keep it.
// scopeOf is the token's scope as the library's logs show it: a server
// may have echoed the tokens in it, and those are replaced by [REDACTED].
func scopeOf(tok *oauth2.Token) string {
	var v struct {
		Scope string `json:"scope"`
	}
	b, err := json.Marshal(ucoauth.LogToken(tok))
	if err != nil || json.Unmarshal(b, &v) != nil {
		return ""
	}
	return v.Scope
}

func randomState() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating the state: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// page answers the browser with a short HTML page.
func page(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><title>ucoauth</title><p>%s</p>\n", html.EscapeString(msg))
}

// openBrowser opens url in the desktop's browser, without waiting for it.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

// Command quickstart runs a merchant's whole life cycle with go-ucoauth:
// connect, call the API, survive token expiry with a silent refresh, revoke.
//
//	go run ./examples/quickstart
//
// With no UltraCart credentials in the environment it runs against an
// embedded fake UltraCart (ucoauthtest) whose tokens live two seconds. With
// ULTRACART_CLIENT_ID (and ULTRACART_CLIENT_SECRET, ULTRACART_REDIRECT_URL)
// set, it talks to the real UltraCart: it prints the authorize link, reads
// the code you were redirected with from stdin, and simulates expiry by
// moving the token source's clock forward, so the refresh it shows is real.
// It calls ULTRACART_API_PATH under the API's base URL (default
// /order/orders?_limit=1). UCOAUTH_SEAL_KEYS, when set, seals the file
// store (see tokenstore.ParseSealKeys).
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
	"golang.org/x/oauth2"
)

func main() {
	log.SetFlags(0)
	if err := run(context.Background(), os.Stdout, os.Stdin); err != nil {
		log.Fatalf("quickstart: %v", err)
	}
}

// env describes where the quickstart runs.
type env struct {
	cfg       *oauth2.Config
	apiURL    string
	authorize func(ctx context.Context, state string) (string, error)
	expire    func() // makes the current token expire
	fake      *ucoauthtest.Server
}

func run(ctx context.Context, out io.Writer, in io.Reader) error {
	step := func(n int, format string, args ...any) {
		fmt.Fprintf(out, "%d. "+format+"\n", append([]any{n}, args...)...)
	}
	var skew atomic.Int64 // simulated time, for real UltraCart
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }

	e, err := setup(in, out, &skew)
	if err != nil {
		return err
	}
	if e.fake != nil {
		defer e.fake.Close()
	}

	state := randomState()
	step(1, "authorize URL: %s", e.cfg.AuthCodeURL(state))
	code, err := e.authorize(ctx, state)
	if err != nil {
		return fmt.Errorf("authorize: %w", err)
	}

	tok, err := ucoauth.Exchange(ctx, e.cfg, code)
	if err != nil {
		return fmt.Errorf("exchange: %w", err)
	}
	step(2, "exchanged the code: token %s, expires in %s", ucoauth.Fingerprint(tok.AccessToken), time.Until(tok.Expiry).Round(time.Second))

	dir, err := os.MkdirTemp("", "ucoauth-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file, err := tokenstore.NewFile(dir)
	if err != nil {
		return err
	}
	store, err := sealFromEnv(file)
	if err != nil {
		return err
	}
	const merchant = "merchant-1"
	if err := store.Save(ctx, merchant, tok); err != nil {
		return err
	}
	step(3, "saved to a file store: %s (mode 0600)", tokenFile(dir))

	refreshed := make(chan ucoauth.RefreshEvent, 1)
	src := ucoauth.NewTokenSource(e.cfg, store, merchant,
		ucoauth.WithClock(clock),
		ucoauth.WithEarlyRefresh(0), // wait for expiry, to show it plainly
		ucoauth.WithRefreshHook(func(ev ucoauth.RefreshEvent) { refreshed <- ev }),
	)
	client := ucoauth.NewClient(ctx, src)

	status, err := get(ctx, client, e.apiURL)
	if err != nil {
		return fmt.Errorf("first API call: %w", err)
	}
	step(4, "API call through ucoauth.NewClient: %s", status)

	e.expire()
	step(5, "the token has expired (lifetime is over)")

	status, err = get(ctx, client, e.apiURL)
	if err != nil {
		return fmt.Errorf("API call after expiry: %w", err)
	}
	ev := <-refreshed
	if ev.Err != nil {
		return fmt.Errorf("refresh: %w", ev.Err)
	}
	rotated := ev.Token.RefreshToken != tok.RefreshToken
	saved, err := store.Load(ctx, merchant)
	if err != nil || saved.RefreshToken != ev.Token.RefreshToken {
		return fmt.Errorf("the refreshed token is not in the store (%v)", err)
	}
	step(6, "silent refresh: new token %s, refresh token rotated: %t, saved to the store", ucoauth.Fingerprint(ev.Token.AccessToken), rotated)
	step(7, "second API call: %s", status)

	if err := src.Revoke(ctx); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	_, loadErr := store.Load(ctx, merchant)
	step(8, "revoked at UltraCart; a tombstone replaces the token in the store: %t", errors.Is(loadErr, ucoauth.ErrRevoked))

	// The revoked token, sent by hand, and the client, which has none left.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.apiURL, nil)
	req.Header.Set("X-UltraCart-Api-Version", "2017-03-01")
	ev.Token.SetAuthHeader(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	_, clientErr := get(ctx, client, e.apiURL)
	if resp.StatusCode != http.StatusUnauthorized || !errors.Is(clientErr, ucoauth.ErrTokenNotFound) {
		return fmt.Errorf("after revoke: want 401 and ErrTokenNotFound, got %s and %v", resp.Status, clientErr)
	}
	step(9, "final call fails as it should: revoked token gets %s; the client says %q", resp.Status, clientErr)
	return nil
}

func setup(in io.Reader, out io.Writer, skew *atomic.Int64) (*env, error) {
	id := os.Getenv("ULTRACART_CLIENT_ID")
	if id == "" {
		fake := ucoauthtest.NewServer()
		const lifetime = 2 * time.Second
		fake.SetLifetime(lifetime)
		fake.SetRotation(true)
		fmt.Fprintf(out, "no ULTRACART_CLIENT_ID set: using an embedded fake UltraCart at %s (tokens live %s)\n", fake.URL, lifetime)
		return &env{
			cfg:    fake.Config(ucoauth.ScopeOrderRead),
			apiURL: fake.BaseURL() + "/order/orders",
			authorize: func(ctx context.Context, state string) (string, error) {
				return fake.Authorize(ctx, fake.Config(ucoauth.ScopeOrderRead), state, "")
			},
			expire: func() { time.Sleep(lifetime + 100*time.Millisecond) },
			fake:   fake,
		}, nil
	}
	cfg := ucoauth.NewConfig(id, os.Getenv("ULTRACART_CLIENT_SECRET"), os.Getenv("ULTRACART_REDIRECT_URL"))
	path := os.Getenv("ULTRACART_API_PATH")
	if path == "" {
		path = "/order/orders?_limit=1"
	}
	fmt.Fprintln(out, "using the real UltraCart")
	return &env{
		cfg:    cfg,
		apiURL: ucoauth.BaseURL + path,
		authorize: func(ctx context.Context, _ string) (string, error) {
			fmt.Fprint(out, "open the URL above, approve, and paste the code from the redirect: ")
			line, err := bufio.NewReader(in).ReadString('\n')
			if err != nil && line == "" {
				return "", err
			}
			return strings.TrimSpace(line), nil
		},
		// Real tokens live long; move the source's clock past any lifetime.
		expire: func() { skew.Add(int64(ucoauth.MaxLifetime + time.Hour)) },
	}, nil
}

func get(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, resp.Header.Get("UC-REST-ERROR"))
	}
	return resp.Status, nil
}

func randomState() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
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

// tokenFile names the token file the store wrote in dir: one per key, named
// after the key and a hash of it.
func tokenFile(dir string) string {
	names, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	return strings.Join(names, ", ")
}

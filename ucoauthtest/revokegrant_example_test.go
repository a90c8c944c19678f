package ucoauthtest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"sync"
	"time"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// Test what your code does when a merchant disconnects the application in
// UltraCart, and connects it again.
func ExampleServer_RevokeGrant() {
	ctx := context.Background()
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	cfg := uc.Config()
	store := tokenstore.NewMemory()
	if err := store.Save(ctx, "DEMO", uc.Issue("DEMO")); err != nil {
		log.Fatal(err)
	}
	// A clock the test moves, so that tokens expire without waiting.
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	later := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	src := ucoauth.NewTokenSource(cfg, store, "DEMO", ucoauth.WithClock(clock))
	defer src.Close()
	api := func(tok string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, uc.BaseURL()+"/order/orders", nil)
		req.Header.Set("X-UltraCart-Api-Version", "2017-03-01")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tok, err := src.Token()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("API call:", api(tok.AccessToken))

	// The merchant disconnects the application in UltraCart.
	fmt.Println("grants revoked:", uc.RevokeGrant("DEMO"))
	fmt.Println("API call with the token held:", api(tok.AccessToken))
	later(time.Hour) // the token expires; the refresh is refused
	_, err = src.Token()
	fmt.Println("refresh:", errors.Is(err, ucoauth.ErrReauthorizationRequired))
	fmt.Println("status:", src.Status().State)

	// The merchant connects again: your callback exchanges the code and
	// saves the token; the source picks it up on its next look.
	code, err := uc.Authorize(ctx, cfg, "state", "DEMO")
	if err != nil {
		log.Fatal(err)
	}
	fresh, err := ucoauth.Exchange(ctx, cfg, code)
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Save(ctx, "DEMO", fresh); err != nil {
		log.Fatal(err)
	}
	later(2 * time.Second) // the source looks at the store at most every second
	tok, err = src.Token()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("status:", src.Status().State)
	fmt.Println("API call:", api(tok.AccessToken))
	// Output:
	// API call: 200
	// grants revoked: 1
	// API call with the token held: 401
	// refresh: true
	// status: reauthorization required
	// status: fresh
	// API call: 200
}

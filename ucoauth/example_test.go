package ucoauth_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"time"

	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// A merchant's life: connect, call the API, and let the TokenSource keep the
// token fresh.
func Example() {
	uc := ucoauthtest.NewServer() // the real thing: ucoauth.NewConfig(id, secret, redirect)
	defer uc.Close()
	ctx := context.Background()
	cfg := uc.Config(ucoauth.ScopeOrderRead)

	// In a web app, redirect the merchant to cfg.AuthCodeURL(state) and read
	// the code from the callback; the fake server plays the merchant here.
	code, err := uc.Authorize(ctx, cfg, "state", "")
	if err != nil {
		log.Fatal(err)
	}
	tok, err := ucoauth.Exchange(ctx, cfg, code)
	if err != nil {
		log.Fatal(err)
	}
	store := tokenstore.NewMemory()
	if err := store.Save(ctx, "merchant-1", tok); err != nil {
		log.Fatal(err)
	}

	src := ucoauth.NewTokenSource(cfg, store, "merchant-1")
	client := ucoauth.NewClient(ctx, src)
	resp, err := client.Get(uc.BaseURL() + "/order/orders")
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output: 200 OK
}

func ExampleNewConfig() {
	cfg := ucoauth.NewConfig("my-client-id", "", "https://app.example/ultracart/callback", ucoauth.ScopeOrderRead)
	fmt.Println(cfg.Endpoint.TokenURL)
	// Output: https://secure.ultracart.com/rest/v2/oauth/token
}

// Observe every refresh, to count or mirror tokens.
func ExampleWithRefreshHook() {
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	uc.SetLifetime(ucoauth.MinLifetime) // the shortest lifetime ucoauth accepts
	store := tokenstore.NewMemory()
	_ = store.Save(context.Background(), "m", uc.Issue("DEMO"))

	refreshed := make(chan string, 1)
	src := ucoauth.NewTokenSource(uc.Config(), store, "m",
		ucoauth.WithEarlyRefresh(0),
		ucoauth.WithRefreshHook(func(e ucoauth.RefreshEvent) { refreshed <- e.Key }))
	time.Sleep(ucoauth.MinLifetime)
	if _, err := src.Token(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("refreshed", <-refreshed)
	// Output: refreshed m
}

func ExampleManager() {
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	store := tokenstore.NewMemory()
	for _, m := range []string{"A", "B"} {
		_ = store.Save(context.Background(), m, uc.Issue(m))
	}
	mgr := ucoauth.NewManager(uc.Config(), store)
	for _, m := range []string{"A", "B"} {
		_, err := mgr.Source(m).Token()
		fmt.Println(m, err == nil)
	}
	// Output:
	// A true
	// B true
}

// Revoke at a server whose revoke endpoint is not UltraCart's sibling of
// the token URL, such as an RFC 7009 server.
func ExampleRevoke() {
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	uc.SetRevokeAnswer(ucoauthtest.RevokeRFC7009) // an empty 200
	tok := uc.Issue("DEMO")
	err := ucoauth.Revoke(context.Background(), uc.Config(), tok.AccessToken,
		ucoauth.WithRevokeURL(uc.BaseURL()+"/oauth/revoke"))
	fmt.Println(err)
	// Output: <nil>
}

// Tokens print as fingerprints, under every verb and in every log format.
func ExampleLogToken() {
	tok := &oauth2.Token{AccessToken: "at-secret", RefreshToken: "rt-secret", TokenType: "bearer"}
	fmt.Printf("%v\n", ucoauth.LogToken(tok))
	// Output: token{type=Bearer access=9d69d392 refresh=20444ddc expiry=0001-01-01T00:00:00Z}
}

// A server other than UltraCart that follows RFC 6749 and RFC 7009 (Ory
// Hydra, say): the config's Endpoint gives the token URL and how the client
// authenticates, the provider gives the revoke URL, and no UltraCart header
// goes to its API.
func ExampleRFC6749() {
	cfg := &oauth2.Config{ClientID: "app-1", ClientSecret: "app-secret",
		Endpoint: oauth2.Endpoint{TokenURL: "https://auth.example.com/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
	hydra := ucoauth.WithProvider(ucoauth.RFC6749("https://auth.example.com/oauth2/revoke"))

	src := ucoauth.NewTokenSource(cfg, tokenstore.NewMemory(), "merchant-1", hydra)
	defer src.Close()
	client := ucoauth.NewClient(context.Background(), src)
	_ = client // calls to https://auth.example.com carry the merchant's token
}

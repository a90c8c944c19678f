package ucoauthtest_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// ordersStatus is the code under test: it calls UltraCart's API with the
// client it is given.
func ordersStatus(client *http.Client, baseURL string) (int, error) {
	resp, err := client.Get(baseURL + "/order/orders")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, nil
}

// In your test, the fake stands in for UltraCart: connect a merchant with
// Issue, keep its token in a store as your program does, and point your
// code at BaseURL. Stats tells what reached the server.
func Example() {
	uc := ucoauthtest.NewServer()
	defer uc.Close()

	ctx := context.Background()
	store := tokenstore.NewMemory()
	if err := store.Save(ctx, "merchant-1", uc.Issue("merchant-1")); err != nil {
		log.Fatal(err)
	}
	src := ucoauth.NewTokenSource(uc.Config(), store, "merchant-1")

	status, err := ordersStatus(ucoauth.NewClient(ctx, src), uc.BaseURL())
	if err != nil {
		log.Fatal(err)
	}
	st := uc.Stats()
	fmt.Println(status, "API calls:", st.API, "refreshes:", st.Refreshes())
	// Output: 200 API calls: 1 refreshes: 0
}

package squaretest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/square/squaretest"
)

// Injecting Square's 429 without Retry-After, then recovering.
func ExampleServer_FailNext() {
	sq := squaretest.NewServer()
	defer sq.Close()
	tok := sq.Issue("MERCHANT1")
	c := square.NewClient(sq.Config())

	sq.FailNext(1, squaretest.RateLimited(0))
	_, err := c.Refresh(context.Background(), tok.RefreshToken)
	var se *square.Error
	if errors.As(err, &se) {
		fmt.Println(se.StatusCode, se.Class)
	}
	_, err = c.Refresh(context.Background(), tok.RefreshToken)
	fmt.Println(err)
	// Output:
	// 429 temporary
	// <nil>
}

// A merchant disconnects the application in Square's dashboard; Square
// tells the application's webhook, which verifies it.
func ExampleServer_SendRevokedWebhook() {
	sq := squaretest.NewServer()
	defer sq.Close()
	var hookURL string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rev, err := square.VerifyRevokedWebhook(r, sq.WebhookKey, hookURL)
		if err != nil {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		fmt.Println("merchant gone:", rev.MerchantID)
	}))
	defer app.Close()
	hookURL = app.URL + "/square/webhook"

	sq.DisconnectMerchant("MERCHANT1")
	status, err := sq.SendRevokedWebhook(context.Background(), hookURL, "MERCHANT1")
	fmt.Println(status, err)
	// Output:
	// merchant gone: MERCHANT1
	// 200 <nil>
}

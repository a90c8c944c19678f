package ucoauthtest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// Test what your code does when UltraCart says the grant is dead.
func ExampleServer_FailNext() {
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	uc.FailNext(1, ucoauthtest.Failure{Status: 400, Body: `{"error":"invalid_grant"}`})

	cfg := uc.Config()
	code, err := uc.Authorize(context.Background(), cfg, "state", "")
	if err != nil {
		log.Fatal(err)
	}
	_, err = ucoauth.Exchange(context.Background(), cfg, code)
	fmt.Println(err)
	fmt.Println(uc.Stats().Token["authorization_code"], "code exchange attempted")
	// Output:
	// ucoauth: token: HTTP 400 Bad Request: invalid_grant
	// 1 code exchange attempted
}

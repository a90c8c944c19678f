package storetest_test

import (
	"testing"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// Run the suite against your own store from a test function.
func ExampleRun() {
	_ = func(t *testing.T) {
		storetest.Run(t, storetest.Harness{
			New: func(t *testing.T) ucoauth.TokenStore { return tokenstore.NewMemory() },
		})
	}
}

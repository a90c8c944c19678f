package storetest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// Run the suite against your own store from a test function:
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, storetest.Harness{New: newMyStore})
//	}
func ExampleRun() {
	_ = func(t *testing.T) {
		storetest.Run(t, storetest.Harness{
			New: func(t *testing.T) ucoauth.TokenStore { return tokenstore.NewMemory() },
		})
	}
}

func ExampleToken() {
	tok := storetest.Token("at-1", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	fmt.Println(tok.RefreshToken, tok.Extra("scope"))
	// Output: rt-at-1 order_read item_write
}

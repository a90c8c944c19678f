package tokenstore_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"golang.org/x/oauth2"
)

// Keys come from configuration, primary first: generate one with
// `head -c32 /dev/urandom | base64`. Here, two fixed keys for the example:
// never use a published key.
func ExampleSeal() {
	keys, err := tokenstore.ParseSealKeys(
		"k2:x04YrNFuOxib7K0hxUbr4wd2Rnd8OfAer9dSyBcaTYA=," + // primary: seals new records
			"k1:tES0LH+wqcePIh7YYcMQfYG+maC5as5V/IIM2krelGY=") // older: still opens
	if err != nil {
		log.Fatal(err)
	}
	inner := tokenstore.NewMemory()
	store, err := tokenstore.Seal(inner, keys[0], keys[1:]...)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	tok := &oauth2.Token{AccessToken: "at-1", RefreshToken: "rt-1", Expiry: time.Now().Add(time.Hour)}
	if err := store.Save(ctx, "merchant-1", tok); err != nil {
		log.Fatal(err)
	}
	raw, _ := inner.Load(ctx, "merchant-1")
	got, _ := store.Load(ctx, "merchant-1")
	fmt.Println(strings.HasPrefix(raw.RefreshToken, "ucs1:k2:"), got.RefreshToken)

	// Rotation: re-seal every record with the primary key, then retire k1.
	n, err := tokenstore.Reseal(ctx, store)
	fmt.Println(n, err)
	// Output:
	// true rt-1
	// 0 <nil>
}

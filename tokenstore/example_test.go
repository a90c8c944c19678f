package tokenstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"golang.org/x/oauth2"
)

func ExampleNewFile() {
	dir, _ := os.MkdirTemp("", "tokens")
	defer os.RemoveAll(dir)
	store, err := tokenstore.NewFile(dir)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	tok := &oauth2.Token{AccessToken: "at", RefreshToken: "rt", Expiry: time.Now().Add(time.Hour)}
	if err := store.Save(ctx, "merchant/1", tok); err != nil {
		log.Fatal(err)
	}
	got, _ := store.Load(ctx, "merchant/1")
	fi, _ := os.Stat(store.Path("merchant/1"))
	fmt.Println(got.RefreshToken, fi.Mode().Perm())
	// Output: rt -rw-------
}

func ExampleMemory() {
	store := tokenstore.NewMemory()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	_ = store.Save(ctx, "m", &oauth2.Token{AccessToken: "new", Expiry: exp})
	err := store.Save(ctx, "m", &oauth2.Token{AccessToken: "old", Expiry: exp.Add(-time.Minute)})
	fmt.Println(err)
	// Output: ucoauth: a newer token is already stored
}

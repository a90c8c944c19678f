package tokenstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
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
	fmt.Println(got.RefreshToken)
	// One file per key, named after the key and a hash of it, readable by
	// this user only.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && filepath.Ext(e.Name()) == ".json" {
			fmt.Println(e.Name(), fi.Mode().Perm())
		}
	}
	// Output:
	// rt
	// merchant_1.9f1a04c425c3c9c21316.json -rw-------
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

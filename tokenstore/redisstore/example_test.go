package redisstore_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"golang.org/x/oauth2"
)

// A fleet shares one Redis: every instance builds the same store and a
// Manager over it. (miniredis stands in for your Redis here.)
func ExampleNew() {
	mr, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{mr.Addr()}})
	defer rdb.Close()

	store := redisstore.New(rdb, redisstore.WithKeyPrefix("myapp:"))
	ctx := context.Background()
	tok := &oauth2.Token{AccessToken: "at", RefreshToken: "rt", Expiry: time.Now().Add(time.Hour)}
	if err := store.Save(ctx, "merchant-1", tok); err != nil {
		log.Fatal(err)
	}
	fmt.Println(mr.Keys())
	// Output: [myapp:{merchant-1}:token]
}

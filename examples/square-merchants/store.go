package main

import (
	"errors"
	"os"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// keyPrefix keeps the sellers' tokens apart from other data in the Redis.
const keyPrefix = "square-merchants:"

// openStore returns the Redis store the sellers' tokens live in, what it
// is (for the output) and how to close it: the Redis at REDIS_URL, as
// every process of a fleet would share it, or an embedded miniredis that
// dies with the program.
func openStore() (ucoauth.TokenStore, string, func(), error) {
	if u := os.Getenv("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			// Its error may quote the URL, password and all.
			return nil, "", nil, errors.New("REDIS_URL does not parse (not shown: it may hold a password)")
		}
		c := redis.NewClient(opt)
		return redisstore.New(c, redisstore.WithKeyPrefix(keyPrefix)), "Redis at " + opt.Addr, func() { c.Close() }, nil
	}
	mr, err := miniredis.Run()
	if err != nil {
		return nil, "", nil, err
	}
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	// One in-process node with no replicas: nothing to wait for.
	s := redisstore.New(c, redisstore.WithKeyPrefix(keyPrefix), redisstore.WithReplicaAcks(0, 0))
	return s, "embedded miniredis (set REDIS_URL for a real one)", func() { c.Close(); mr.Close() }, nil
}

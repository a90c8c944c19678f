package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// openStore opens the token store spec names, and returns it with the
// function that releases it (a Redis client's connections, say):
//
//	file:DIR                    tokenstore.NewFile(DIR)
//	redis://... or rediss://... tokenstore.NewRedis, URL as redis.ParseURL reads it,
//	                            plus ?prefix=P for tokenstore.WithKeyPrefix
//
// SQL stores (postgres://, postgresql://, mysql://, sqlite:) and sealing
// (sealKeys, from UCOAUTH_SEAL_KEYS) are recognised and refused with a clear
// error: the lead wires tokenstore.NewSQL and tokenstore.Seal in here when
// they land. Sealing keys that cannot be honoured are an error rather than
// ignored, because writing tokens in clear when the operator asked for
// sealing would be worse than failing.
func openStore(spec, sealKeys string) (ucoauth.TokenStore, func(), error) {
	if sealKeys != "" {
		return nil, nil, usageErrorf("%s is set, but this build of ucoauth cannot seal tokens yet; unset it to use the store unsealed", envSealKeys)
	}
	scheme, rest, _ := strings.Cut(spec, ":")
	switch strings.ToLower(scheme) {
	case "":
		return nil, nil, usageErrorf("the token store is required: -store or %s (file:DIR or redis://host:port)", envStore)
	case "file":
		dir := strings.TrimPrefix(rest, "//")
		if dir == "" {
			return nil, nil, usageErrorf("the file store needs a directory: file:DIR")
		}
		f, err := tokenstore.NewFile(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("opening the file store: %w", err)
		}
		return f, func() {}, nil
	case "redis", "rediss":
		return openRedis(spec)
	case "postgres", "postgresql", "mysql", "sqlite":
		return nil, nil, usageErrorf("%s stores are not supported by this build of ucoauth yet; use file:DIR or redis://", scheme)
	}
	return nil, nil, usageErrorf("unknown token store %q: use file:DIR or redis://host:port", redactURL(spec))
}

// openRedis opens a Redis store from a redis:// or rediss:// URL.
func openRedis(spec string) (ucoauth.TokenStore, func(), error) {
	u, err := url.Parse(spec)
	if err != nil {
		return nil, nil, usageErrorf("the Redis URL does not parse (it is not shown: it may hold a password)")
	}
	q := u.Query()
	prefix, hasPrefix := q.Get("prefix"), q.Has("prefix")
	q.Del("prefix")
	u.RawQuery = q.Encode()
	opt, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, nil, usageErrorf("bad Redis URL %s: %s", redactURL(spec), strings.ReplaceAll(err.Error(), u.String(), redactURL(spec)))
	}
	client := redis.NewClient(opt)
	var opts []tokenstore.RedisOption
	if hasPrefix {
		opts = append(opts, tokenstore.WithKeyPrefix(prefix))
	}
	return tokenstore.NewRedis(client, opts...), func() { _ = client.Close() }, nil
}

// redactURL hides a URL's password, so a store spec can be shown in errors.
func redactURL(spec string) string {
	u, err := url.Parse(spec)
	if err != nil || u.User == nil {
		if err != nil && strings.Contains(spec, "@") {
			return "(not shown: it may hold a password)"
		}
		return spec
	}
	return u.Redacted()
}

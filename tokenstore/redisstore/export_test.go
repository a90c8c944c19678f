package redisstore

// TokenKey is the Redis key that holds key's record in r.
func TokenKey(r *Store, key string) string { return r.key(key, "token") }

package record

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// DefaultLockTTL bounds how long a dead holder can keep a refresh lock in
// a shared store (redisstore's lock, sqlstore's lease row). It must exceed
// the longest a refresh can hold it: the store read and the token request
// share a deadline of twice the TokenSource's refresh timeout, and the
// save has one more refresh timeout: 90 s with the default 30 s.
const DefaultLockTTL = 100 * time.Second

// NewOwner returns a random lock owner value: 16 bytes, in hex.
func NewOwner() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

package tokenstore

import (
	"time"

	"github.com/ucoauth/go-ucoauth/internal/record"
	"golang.org/x/oauth2"
)

// Errors shared by the stores (the Redis and SQL stores report them too).
// None is temporary: retrying cannot fix them.
var (
	// ErrCorrupt means a stored record could not be read. The record is left
	// in place for inspection and is never replaced by an empty token; Save
	// of a real token replaces it.
	ErrCorrupt = record.ErrCorrupt
	// ErrNewerFormat means a stored record was written by a later version of
	// the record format, by a newer build sharing the store. This build can
	// neither read it nor overwrite it: overwriting would throw away the
	// refresh token it holds. Upgrade every reader before any writer.
	ErrNewerFormat = record.ErrNewerFormat
	// ErrInvalidKey means the key is empty or not valid UTF-8 (the record
	// is JSON, which cannot keep other bytes).
	ErrInvalidKey = record.ErrInvalidKey
	// ErrInvalidToken means Save was given a token it cannot store: none, no
	// access token, a field that is not valid UTF-8, or an expiry outside
	// the years 0 to 9999.
	ErrInvalidToken = record.ErrInvalidToken
)

// ErrUnsafePath means the token directory, a token file or a lock file is
// not what the store itself creates: a symbolic link, not a directory or
// regular file, owned by another user, or a token file others may read
// whose mode cannot be tightened. The store neither follows nor replaces
// it; a person must look.
var ErrUnsafePath error = permanent("tokenstore: unsafe path in the token directory")

// permanent is an error that says retrying will not help, so that a
// ucoauth.StoreError wrapping it is not Temporary.
type permanent = record.Permanent

// The record format (versioned JSON, the merge rule, tombstones) lives in
// internal/record, shared with the Redis and SQL store modules; these are
// the names this package's stores call it by.

func checkKey(key string) error { return record.CheckKey(key) }

func unmarshal(key string, data []byte) (*oauth2.Token, error) { return record.Unmarshal(key, data) }

func encodeOverRaw(key string, oldRaw []byte, tok *oauth2.Token) ([]byte, error) {
	return record.EncodeOverRaw(key, oldRaw, tok)
}

func recordKey(data []byte) (string, error) { return record.Key(data) }

func isSealed(tok *oauth2.Token) bool { return record.IsSealed(tok) }

func looksVersioned(value string) bool { return record.LooksVersioned(value) }

func encodeTombstone(key string, oldRaw []byte, grants []string, now time.Time) ([]byte, error) {
	return record.EncodeTombstone(key, oldRaw, grants, now)
}

func recordState(key string, data []byte, now time.Time) (token, expiredTombstone bool) {
	return record.State(key, data, now)
}

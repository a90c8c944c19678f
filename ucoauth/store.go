package ucoauth

import (
	"context"

	"golang.org/x/oauth2"
)

// TokenStore persists one token per key (typically a merchant ID). The
// tokenstore package has memory, file and Redis implementations; the
// tokenstore/storetest package checks a store of your own.
//
// Implementations must be safe for concurrent use, must return an error
// matching [ErrTokenNotFound] from Load when the key holds nothing, and must
// not hand out tokens that the caller can mutate in the store.
type TokenStore interface {
	Load(ctx context.Context, key string) (*oauth2.Token, error)
	// Save stores tok under key. It should refuse, with an error matching
	// [ErrSuperseded], to replace a token that expires later than tok.
	Save(ctx context.Context, key string, tok *oauth2.Token) error
	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Locker is implemented by stores that can serialize refreshes across
// processes. When a TokenSource's store is a Locker, the source holds the
// lock for its key around every refresh and reloads the token under it, so N
// processes sharing the store make one refresh instead of N.
type Locker interface {
	// Lock blocks until the caller holds key's refresh lock or ctx ends.
	// The returned unlock releases it and is safe to call more than once.
	// A lock whose holder dies must not stay held forever.
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// Lister is implemented by stores that can enumerate their keys, for tools
// that walk every merchant: re-sealing records under a new key
// (tokenstore.Reseal) and the ucoauth command's status table. All of the
// tokenstore package's stores implement it.
type Lister interface {
	// Keys returns every key that holds a token, in no particular order.
	Keys(ctx context.Context) ([]string, error)
}

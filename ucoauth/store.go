package ucoauth

import (
	"context"
	"errors"

	"golang.org/x/oauth2"
)

// TokenStore persists one token per key (typically a merchant ID). The
// tokenstore package has memory, file, Redis and SQL implementations, and
// Seal to encrypt any of them; the tokenstore/storetest package checks a
// store of your own against this contract.
//
// A TokenSource relies on all of it: the store may hold the only live
// refresh token of a merchant (UltraCart can rotate it at every refresh),
// so a store that drops or overwrites it costs the merchant a new
// authorization.
//
//   - Load returns the stored token, or an error matching
//     [ErrTokenNotFound] when the key holds nothing. A record it cannot
//     read is an error, never an empty or partial token. It must never
//     return a token expiring later than now plus [MaxLifetime]:
//     the stores in tokenstore bound a stored expiry that way.
//   - Save stores tok under key, as one atomic step against every other
//     Save of the key, from this process or another sharing the store. It
//     refuses, with an error matching [ErrSuperseded], to replace a token
//     that expires later than tok, so that a refresh finishing late cannot
//     clobber a fresher token. When tok has no refresh token it keeps the
//     stored one: an empty refresh token never replaces a real one. It
//     refuses a token with no access token. It must not overwrite a record
//     it cannot read because a newer program wrote it.
//   - Delete removes key. Deleting a missing key is not an error.
//   - Keys that a store cannot keep exactly are refused by every method
//     alike, with a permanent error; a Save that succeeds is loaded back
//     unchanged.
//   - Tokens are copied in and out: a caller changing a token it passed to
//     Save, or got from Load, must not change what is stored.
//   - Every method is safe for concurrent use. An error that retrying may
//     cure (the store is unreachable) should be temporary; one that it
//     cannot (a corrupt record, a refused key) should say so with a
//     Temporary() bool method returning false (see [StoreError.Temporary]).
//
// A store of your own does Save as a compare-and-set: read the stored
// token, apply the rules above to it and tok, and write the result only if
// the stored token is still the one read. The tokenstore/storetest suite
// checks every rule.
//
// Optional capabilities: a store that can serialize refreshes across
// processes implements [Locker], one that can enumerate its keys
// implements [Lister], and one that can mark a key revoked implements
// [Tombstoner].
type TokenStore interface {
	// Load returns the token stored under key, or an error matching
	// [ErrTokenNotFound].
	Load(ctx context.Context, key string) (*oauth2.Token, error)
	// Save stores tok under key atomically. It refuses, with an error
	// matching [ErrSuperseded], to replace a token that expires later than
	// tok, and keeps the stored refresh token when tok has none.
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

// Tombstoner is implemented by stores that can mark a key revoked, so that
// a process holding the revoked grant in memory cannot save it back after
// [TokenSource.Revoke]. All of the tokenstore package's stores, and Seal
// over one of them, implement it.
//
// Grants are told apart by the grant ID a token carries ([GrantID]): a new
// authorization gets a new one ([Exchange], [DeviceAccessToken]), and every
// refresh carries its base's forward. A tombstone names the grants it
// revoked; a token that carries no grant ID counts as revoked too, because
// nothing tells a new authorization without one from a refresh of the
// revoked grant.
//
// A store without it (one of your own, written before tombstones) keeps
// working: Revoke deletes the key instead, and a process that holds the
// grant in memory and refreshes it can save it again, unless the server
// revoked its refresh token as well (Revoke asks it to).
type Tombstoner interface {
	// Tombstone replaces key's record, atomically against every Save of
	// the key as Save is, with a tombstone that revokes the grant of the
	// stored token, each of grants, and every token that carries no grant
	// ID. From then on:
	//
	//   - Load fails with an error matching [ErrRevoked] and
	//     [ErrTokenNotFound], so that callers that know nothing of
	//     tombstones see a key that holds nothing;
	//   - Save refuses a token of a revoked grant, or of none, with an
	//     error matching [ErrRevoked] (and so [ErrReauthorizationRequired])
	//     that is not temporary, and accepts a token of another grant: a
	//     new authorization, which replaces the tombstone but keeps
	//     refusing the revoked grants;
	//   - a Lister does not list the key;
	//   - Delete removes the tombstone like any record.
	//
	// A store bounds how long a revocation lasts (the tokenstore package's
	// stores: tokenstore.TombstoneRetention). A wrapper whose inner store
	// keeps no tombstones returns an error matching errors.ErrUnsupported,
	// and writes nothing: the caller deletes the key instead.
	Tombstone(ctx context.Context, key string, grants ...string) error
}

// ErrLockLost means a refresh lock was no longer held by its holder: its
// database connection was closed (killed, timed out, failed over), its
// lease expired, or another holder took it. A refresh that meets it before
// presenting the refresh token gives up and is retried; after, it still
// saves the token it got (see [TokenSource]). It is temporary.
var ErrLockLost = errors.New("ucoauth: the refresh lock was lost")

// A Lease is a refresh lock held by this process (see [LeaseLocker]).
type Lease interface {
	// Keep confirms that the lock is still held by this holder, and
	// extends it when it expires by itself (a Redis or SQLite lease). It
	// returns an error matching [ErrLockLost] when the lock is not held,
	// or when the store cannot confirm that it is.
	Keep(ctx context.Context) error
	// Release releases the lock. It is safe to call more than once.
	Release()
}

// LeaseLocker is a [Locker] whose locks can be checked and kept while they
// are held. A TokenSource checks its lease immediately before it presents a
// refresh token and before it saves the result, and keeps it while a save
// of a rotated token is being retried, so that no other process refreshes
// from the stored, rotated-away refresh token meanwhile. All of the
// tokenstore package's lockers implement it; a plain Locker works as
// before, unchecked.
type LeaseLocker interface {
	Locker
	// LockLease blocks until the caller holds key's refresh lock or ctx
	// ends, like Lock, and returns the held lock.
	LockLease(ctx context.Context, key string) (Lease, error)
}

package tokenstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// This file is the store Seal returns: it seals on Save and opens on Load
// with envelope.go, and refuses to overwrite what it cannot open.

// sealed is the store Seal returns, when inner is neither a Locker nor a
// Lister; the other combinations embed it.
type sealed struct {
	inner   ucoauth.TokenStore
	checked checkedSaver                          // inner, when it can check the stored record inside its compare-and-set
	check   func(key string, stored []byte) error // checkStored, bound once: no closure per Save
	s       *sealer
	known   knownRecords
}

// checkedSaver is a store of this package (Memory, File) whose Save can
// check the stored record inside its own compare-and-set, and tells what it
// wrote. check sees the key and the stored bytes (nil when nothing is stored) before
// anything is written, and its error is Save's.
type checkedSaver interface {
	saveChecked(ctx context.Context, key string, tok *oauth2.Token, check func(key string, stored []byte) error) (written []byte, err error)
}

type sealedLocker struct {
	*sealed
	ucoauth.Locker
}

type sealedLister struct {
	*sealed
	ucoauth.Lister
}

type sealedLockerLister struct {
	*sealed
	ucoauth.Locker
	ucoauth.Lister
}

// sealedLeaseLocker and sealedLeaseLockerLister keep inner's LeaseLocker.
type sealedLeaseLocker struct {
	*sealed
	ucoauth.LeaseLocker
}

type sealedLeaseLockerLister struct {
	*sealed
	ucoauth.LeaseLocker
	ucoauth.Lister
}

var (
	_ ucoauth.LeaseLocker = sealedLeaseLocker{}
	_ ucoauth.LeaseLocker = sealedLeaseLockerLister{}
	_ ucoauth.Lister      = sealedLeaseLockerLister{}
	_ ucoauth.TokenStore  = sealedLocker{}
	_ ucoauth.Locker      = sealedLocker{}
	_ ucoauth.Lister      = sealedLister{}
	_ ucoauth.Locker      = sealedLockerLister{}
	_ ucoauth.Lister      = sealedLockerLister{}
	_ ucoauth.Tombstoner  = (*sealed)(nil)
	_ checkedSaver        = (*Memory)(nil)
	_ checkedSaver        = (*File)(nil)
)

// Seal returns a store that encrypts tokens before inner sees them. New records are sealed with
// primary; records sealed with any of older still open. It keeps inner's Locker when inner has one.
//
// Only the access and refresh tokens are sealed, each into ASCII text
// "ucs1:<key ID>:<base64url(nonce|ciphertext|tag)>", bound by
// additional data to the store key, the field and the key ID: a value copied
// to another key or field, or tampered with, does not open. Expiry, granted
// lifetime, token type and scope stay readable, so inner's own rules (no
// older token replaces a newer one, no empty refresh token replaces a real
// one, compare-and-set) work unchanged. An empty refresh token stays empty.
//
// The returned store is a ucoauth.Locker exactly when inner is one (and a
// ucoauth.LeaseLocker exactly when inner is one), and a
// ucoauth.Lister exactly when inner is one. Load fails with an *OpenError
// (matching ErrCannotOpen, never ErrTokenNotFound) for a value it cannot
// open. Save refuses, with that error, to overwrite a record it cannot
// open; an absent or corrupt (ErrCorrupt) record is handled by inner's own
// rules. Over Memory and File the check is part of inner's compare-and-set;
// over other stores Save loads first, so every process sharing such a store
// must be given the same keys. An unsealed value is refused
// unless the plaintext pseudo-key is among older (see PlaintextKeyID). Weak
// keys are refused with ErrSealConfig. Nothing is sealed or opened on a
// TokenSource's hot path: only on Load and Save.
//
// The AEAD is the standard library's AES-256-GCM with random 96-bit nonces
// (cipher.NewGCMWithRandomNonce), chosen over XChaCha20-Poly1305 because it
// adds no dependency, runs on hardware AES, and is the FIPS 140-3 approved
// random-nonce mode of Go's crypto module. Its limit: random 96-bit nonces
// keep the chance of a nonce collision below 2^-32 for 2^32 sealed values
// per key. A Save seals at most two values, so a key is good for about 2^31
// saves (100,000 merchants refreshing hourly: about 2.4 years). Rotate keys
// yearly, with Reseal, and the budget starts again.
func Seal(inner ucoauth.TokenStore, primary SealKey, older ...SealKey) (ucoauth.TokenStore, error) {
	if inner == nil {
		return nil, fmt.Errorf("%w: no inner store", ErrSealConfig)
	}
	s, err := newSealer(primary, older)
	if err != nil {
		return nil, err
	}
	base := &sealed{inner: inner, s: s}
	base.checked, _ = inner.(checkedSaver)
	base.check = base.checkStored
	lock, isLocker := inner.(ucoauth.Locker)
	list, isLister := inner.(ucoauth.Lister)
	lease, isLeaseLocker := inner.(ucoauth.LeaseLocker)
	switch {
	case isLeaseLocker && isLister:
		return sealedLeaseLockerLister{base, lease, list}, nil
	case isLeaseLocker:
		return sealedLeaseLocker{base, lease}, nil
	case isLocker && isLister:
		return sealedLockerLister{base, lock, list}, nil
	case isLocker:
		return sealedLocker{base, lock}, nil
	case isLister:
		return sealedLister{base, list}, nil
	}
	return base, nil
}

// Load returns key's token with its secrets opened.
func (w *sealed) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	tok, err := w.inner.Load(ctx, key)
	if err != nil {
		return nil, err
	}
	return w.s.openToken(key, tok)
}

// Save seals tok and saves it to the inner store, unless what is stored
// under key cannot be opened.
func (w *sealed) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	if tok == nil || tok.AccessToken == "" {
		return ErrInvalidToken
	}
	if isSealed(tok) {
		// Read from the inner store without Seal (a copy, a migration
		// script): sealing it again would store ciphertext as the token,
		// and replace a real refresh token with one that cannot work.
		return fmt.Errorf("%w: its secrets are already sealed values (read without Seal?)", ErrInvalidToken)
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if w.checked != nil {
		// One compare-and-set: no second decode of the stored record, and
		// no window between the check and the write.
		written, err := w.checked.saveChecked(ctx, key, w.s.sealToken(key, tok), w.check)
		if err == nil {
			w.known.add(key, written)
		}
		return err
	}
	old, err := w.inner.Load(ctx, key)
	switch {
	case err == nil:
		if _, err := w.s.openToken(key, old); err != nil {
			return refuseOverwrite(err)
		}
	case errors.Is(err, ucoauth.ErrTokenNotFound), errors.Is(err, ErrCorrupt):
		// inner's rules decide: a missing or corrupt record may be replaced.
	default:
		return err
	}
	return w.inner.Save(ctx, key, w.s.sealToken(key, tok))
}

func refuseOverwrite(err error) error {
	return fmt.Errorf("tokenstore: Seal refuses to overwrite the stored record: %w", err)
}

// checkStored is Save's check of the stored record, run inside a
// checkedSaver's compare-and-set: the same rule as loading and opening it.
// A record this store wrote itself opens (the keys never change), so it is
// compared, not decrypted again: that is what keeps a sealed Save within
// a sealing's cost of a plain one.
func (w *sealed) checkStored(key string, stored []byte) error {
	if len(stored) == 0 || w.known.has(key, stored) {
		return nil
	}
	old, err := unmarshal(key, stored)
	switch {
	case err == nil:
		if _, err := w.s.openToken(key, old); err != nil {
			return refuseOverwrite(err)
		}
	case errors.Is(err, ucoauth.ErrTokenNotFound), errors.Is(err, ErrCorrupt):
		// inner's rules decide: a missing or corrupt record may be replaced.
	default:
		return err
	}
	return nil
}

// knownRecords remembers, per store key, the last record a sealed store
// wrote through a checkedSaver. It holds no plaintext: records hold sealed
// values. It is bounded, so a fleet of merchants cannot grow it without end;
// a forgotten key costs one decode and open on its next Save.
type knownRecords struct {
	mu sync.Mutex
	m  map[string][]byte
}

// maxKnownRecords bounds knownRecords: about a megabyte of records.
const maxKnownRecords = 2048

func (k *knownRecords) add(key string, record []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string][]byte{}
	}
	if _, ok := k.m[key]; !ok && len(k.m) >= maxKnownRecords {
		for other := range k.m { // map order is random: evict any one
			delete(k.m, other)
			break
		}
	}
	k.m[key] = record
}

func (k *knownRecords) has(key string, record []byte) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	known, ok := k.m[key]
	return ok && bytes.Equal(known, record)
}

// Delete removes key from the inner store.
func (w *sealed) Delete(ctx context.Context, key string) error { return w.inner.Delete(ctx, key) }

// Tombstone passes to the inner store when it is a ucoauth.Tombstoner: a
// tombstone holds no secret, and grant IDs are stored readable. Otherwise
// it writes nothing and returns an error matching errors.ErrUnsupported,
// and a TokenSource deletes the key instead.
func (w *sealed) Tombstone(ctx context.Context, key string, grants ...string) error {
	t, ok := w.inner.(ucoauth.Tombstoner)
	if !ok {
		return fmt.Errorf("tokenstore: Seal: the inner store %T keeps no tombstones: %w", w.inner, errors.ErrUnsupported)
	}
	return t.Tombstone(ctx, key, grants...)
}

// String names the keys, never their secrets.
func (w *sealed) String() string {
	ids := make([]string, 0, len(w.s.aeads))
	for id := range w.s.aeads {
		if id != w.s.primaryID {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if w.s.plaintext {
		ids = append(ids, PlaintextKeyID)
	}
	return fmt.Sprintf("tokenstore.Seal(%T, primary %q, older %q)", w.inner, w.s.primaryID, ids)
}

// Format prints String for every verb, so no key schedule is ever dumped.
func (w *sealed) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(w.String())) }

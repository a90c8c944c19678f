package tokenstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// SealKeySize is the length of a SealKey's Secret: 32 bytes, for AES-256.
const SealKeySize = 32

// PlaintextKeyID is the reserved ID of the pseudo-key that reads records
// written before sealing was turned on. SealKey{ID: PlaintextKeyID}, with no
// Secret, may be given among Seal's older keys (and as "plaintext" in
// ParseSealKeys) during a migration: unsealed values then load as they are,
// and every Save and Reseal seals them with the primary key. Without it, an
// unsealed value is refused, because anyone able to write to the store could
// otherwise plant a token of their choosing under any merchant's key.
const PlaintextKeyID = "plaintext"

// sealPrefix starts every sealed value: "ucs1:" + key ID + ":" +
// base64url(nonce | ciphertext | tag), unpadded. It is ASCII, so it fits any
// store that holds a token.
const sealPrefix = "ucs1:"

// maxKeyIDLen bounds a key ID, so that it stays a short name.
const maxKeyIDLen = 32

// Errors of sealing. Neither is temporary: retrying cannot fix them.
var (
	// ErrSealConfig means the keys given to Seal or ParseSealKeys are weak or
	// inconsistent: a secret that is not 32 bytes or is one byte repeated
	// (all zeros), an empty, invalid or reserved ID, two keys with one ID,
	// or two IDs with one secret.
	ErrSealConfig error = permanent("tokenstore: bad seal key configuration")
	// ErrCannotOpen means a stored value could not be opened: its key ID is
	// unknown, the key is wrong, it was tampered with or copied from another
	// store key, or it is not sealed (and plaintext is not accepted). It never
	// matches ErrCorrupt, because such a record is usually fine and the
	// configuration is missing a key: no store may overwrite it.
	ErrCannotOpen error = permanent("tokenstore: sealed token cannot be opened")
)

// SealKey is a named 256-bit key for Seal. Its Secret never prints: fmt (every
// verb), log/slog, encoding/json and encoding (text) show it as [REDACTED].
// Seal keeps no reference to Secret, so the caller may wipe it afterwards.
type SealKey struct {
	ID     string // names the key inside every record it seals
	Secret []byte // exactly 32 bytes
}

// String names the key and hides the secret.
func (k SealKey) String() string { return "SealKey(" + k.ID + ", " + ucoauth.Redacted + ")" }

// GoString hides the secret from %#v.
func (k SealKey) GoString() string { return k.String() }

// Format hides the secret from every fmt verb.
func (k SealKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue hides the secret from log/slog.
func (k SealKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("secret", ucoauth.Redacted))
}

// MarshalJSON writes the ID and hides the secret.
func (k SealKey) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"id":%q,"secret":%q}`, k.ID, ucoauth.Redacted), nil
}

// MarshalText hides the secret from text encoders (XML, map keys).
func (k SealKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// OpenError is a stored value that could not be opened. It names the field
// and the key ID, never the value or a secret, and matches ErrCannotOpen.
type OpenError struct {
	Field  string // "access token" or "refresh token"
	KeyID  string // the key ID the value names; empty when it names none
	Reason string // why it did not open, such as "unknown key ID"; never a secret
}

// Error says which field, which key ID and why.
func (e *OpenError) Error() string {
	if e.KeyID == "" {
		return fmt.Sprintf("%v: %s: %s", ErrCannotOpen, e.Field, e.Reason)
	}
	return fmt.Sprintf("%v: %s sealed with key ID %q: %s", ErrCannotOpen, e.Field, e.KeyID, e.Reason)
}

// Unwrap returns ErrCannotOpen.
func (e *OpenError) Unwrap() error { return ErrCannotOpen }

// Temporary is false: the value will not open on a second try either.
func (e *OpenError) Temporary() bool { return false }

const (
	fieldAccess  = "access token"
	fieldRefresh = "refresh token"
)

// sealer holds the keys. It keeps the AEADs, not the secrets.
type sealer struct {
	primaryID string
	aeads     map[string]cipher.AEAD
	plaintext bool // unsealed values open as themselves (migration)
}

func validKeyID(id string) bool {
	if id == "" || len(id) > maxKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func newSealer(primary SealKey, older []SealKey) (*sealer, error) {
	if primary.ID == PlaintextKeyID {
		return nil, fmt.Errorf("%w: the primary key cannot be %q: new records must be sealed", ErrSealConfig, PlaintextKeyID)
	}
	s := &sealer{primaryID: primary.ID, aeads: map[string]cipher.AEAD{}}
	type idSecret struct {
		id     string
		secret []byte
	}
	var secrets []idSecret // compared, then dropped: Seal keeps no secret
	for i, k := range append([]SealKey{primary}, older...) {
		if k.ID == PlaintextKeyID {
			if len(k.Secret) != 0 {
				return nil, fmt.Errorf("%w: key %d: ID %q is reserved for reading unsealed records and takes no secret", ErrSealConfig, i, PlaintextKeyID)
			}
			if s.plaintext {
				return nil, fmt.Errorf("%w: key ID %q given twice", ErrSealConfig, k.ID)
			}
			s.plaintext = true
			continue
		}
		if !validKeyID(k.ID) {
			return nil, fmt.Errorf("%w: key %d: an ID is 1 to %d characters of A-Z a-z 0-9 . _ -", ErrSealConfig, i, maxKeyIDLen)
		}
		if _, dup := s.aeads[k.ID]; dup {
			return nil, fmt.Errorf("%w: key ID %q given twice", ErrSealConfig, k.ID)
		}
		if len(k.Secret) != SealKeySize {
			return nil, fmt.Errorf("%w: key %q: the secret is %d bytes, want %d", ErrSealConfig, k.ID, len(k.Secret), SealKeySize)
		}
		if degenerate(k.Secret) {
			return nil, fmt.Errorf("%w: key %q: the secret is one byte repeated (all zeros?), not random", ErrSealConfig, k.ID)
		}
		for _, prev := range secrets {
			if subtle.ConstantTimeCompare(prev.secret, k.Secret) == 1 {
				// A rotation that changed the ID only: retiring the "old"
				// key would retire nothing.
				return nil, fmt.Errorf("%w: keys %q and %q have one secret", ErrSealConfig, prev.id, k.ID)
			}
		}
		secrets = append(secrets, idSecret{k.ID, k.Secret})
		block, err := aes.NewCipher(k.Secret) // copies the secret into its key schedule
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %v", ErrSealConfig, k.ID, err)
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %v", ErrSealConfig, k.ID, err)
		}
		s.aeads[k.ID] = aead
	}
	return s, nil
}

// degenerate reports a secret of one repeated byte: an unset buffer or a
// placeholder, never the output of a random generator.
func degenerate(secret []byte) bool {
	for _, b := range secret {
		if b != secret[0] {
			return false
		}
	}
	return true
}

// additionalData binds a ciphertext to its store key, its field and its key
// ID. Neither the field nor the ID can hold a NUL, and the store key comes
// last, so the encoding is unambiguous.
func additionalData(storeKey, field, keyID string) []byte {
	ad := make([]byte, 0, len(sealPrefix)+len(field)+len(keyID)+len(storeKey)+3)
	ad = append(ad, sealPrefix...)
	ad = append(ad, field...)
	ad = append(ad, 0)
	ad = append(ad, keyID...)
	ad = append(ad, 0)
	return append(ad, storeKey...)
}

// seal returns value sealed with the primary key; the empty value stays empty.
func (s *sealer) seal(storeKey, field, value string) string {
	if value == "" {
		return ""
	}
	ct := s.aeads[s.primaryID].Seal(nil, nil, []byte(value), additionalData(storeKey, field, s.primaryID))
	return sealPrefix + s.primaryID + ":" + base64.RawURLEncoding.EncodeToString(ct)
}

// keyIDOf returns the key ID a sealed value names, and whether it is sealed
// at all. It does not check the rest.
func keyIDOf(value string) (id string, sealed bool) {
	rest, ok := strings.CutPrefix(value, sealPrefix)
	if !ok {
		return "", false
	}
	id, _, _ = strings.Cut(rest, ":")
	return id, true
}

// open returns the plaintext of a sealed value. The empty value stays empty.
// Errors are *OpenError and never contain the value.
func (s *sealer) open(storeKey, field, value string) (string, error) {
	if value == "" {
		return "", nil
	}
	rest, ok := strings.CutPrefix(value, sealPrefix)
	if !ok {
		switch {
		case looksVersioned(value):
			return "", &OpenError{Field: field, Reason: "sealed by an unsupported version of tokenstore.Seal"}
		case s.plaintext:
			return value, nil
		default:
			return "", &OpenError{Field: field, Reason: "not sealed (add the " + PlaintextKeyID + " pseudo-key to migrate a store sealed only in part)"}
		}
	}
	id, enc, ok := strings.Cut(rest, ":")
	if !ok || !validKeyID(id) {
		return "", &OpenError{Field: field, Reason: "malformed sealed value: no valid key ID"}
	}
	aead, ok := s.aeads[id]
	if !ok {
		return "", &OpenError{Field: field, KeyID: id, Reason: "unknown key ID: the key is not configured (retired too early?)"}
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	// The decoder skips CR and LF: insist on the one canonical encoding, so
	// that no two texts open to the same token.
	if err != nil || base64.RawURLEncoding.EncodeToString(raw) != enc {
		return "", &OpenError{Field: field, KeyID: id, Reason: "malformed sealed value: not canonical unpadded base64url"}
	}
	if len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", &OpenError{Field: field, KeyID: id, Reason: fmt.Sprintf("malformed sealed value: %d bytes is too short", len(raw))}
	}
	pt, err := aead.Open(nil, nil, raw, additionalData(storeKey, field, id))
	if err != nil {
		return "", &OpenError{Field: field, KeyID: id, Reason: "authentication failed: wrong key, tampered with, or sealed for another store key or field"}
	}
	if len(pt) == 0 {
		return "", &OpenError{Field: field, KeyID: id, Reason: "sealed an empty value"}
	}
	return string(pt), nil
}

// openToken returns a copy of tok with both secrets opened. Every other field
// (expiry, lifetime, type, extras such as scope) is kept as stored.
func (s *sealer) openToken(storeKey string, tok *oauth2.Token) (*oauth2.Token, error) {
	if tok == nil {
		return nil, fmt.Errorf("%w: the store returned no token", ErrCorrupt)
	}
	access, err := s.open(storeKey, fieldAccess, tok.AccessToken)
	if err != nil {
		return nil, err
	}
	if access == "" {
		return nil, fmt.Errorf("%w: no access token", ErrCorrupt)
	}
	refresh, err := s.open(storeKey, fieldRefresh, tok.RefreshToken)
	if err != nil {
		return nil, err
	}
	out := *tok
	out.AccessToken, out.RefreshToken = access, refresh
	return &out, nil
}

// sealToken returns a new token with both secrets sealed with the primary
// key, everything else readable, and an empty refresh token still empty, so
// that the inner store's Merge keeps the stored one. Of the extras only the
// scope is kept (all that any store keeps): a token from
// oauth2.Config.Exchange carries the whole answer as extras, the plaintext
// access and refresh tokens included.
func (s *sealer) sealToken(storeKey string, tok *oauth2.Token) *oauth2.Token {
	out := &oauth2.Token{
		AccessToken:  s.seal(storeKey, fieldAccess, tok.AccessToken),
		TokenType:    tok.TokenType,
		RefreshToken: s.seal(storeKey, fieldRefresh, tok.RefreshToken),
		Expiry:       tok.Expiry,
		ExpiresIn:    tok.ExpiresIn,
	}
	scope, _ := tok.Extra("scope").(string)
	if scope != "" || ucoauth.GrantID(tok) != "" {
		// The grant ID stays readable, like the scope: it is no secret,
		// and the inner store's tombstones need it.
		return ucoauth.WithGrantID(out.WithExtra(map[string]any{"scope": scope}), ucoauth.GrantID(tok))
	}
	return out
}

// sealedByPrimary reports whether every secret of tok is sealed with the
// primary key, so Reseal can leave it alone.
func (s *sealer) sealedByPrimary(tok *oauth2.Token) bool {
	for _, v := range []string{tok.AccessToken, tok.RefreshToken} {
		if v == "" {
			continue
		}
		if id, ok := keyIDOf(v); !ok || id != s.primaryID {
			return false
		}
	}
	return true
}

// sealed is the store Seal returns, when inner is neither a Locker nor a
// Lister; the other three combinations embed it.
type sealed struct {
	inner ucoauth.TokenStore
	s     *sealer
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
)

var (
	_ ucoauth.TokenStore = sealedLocker{}
	_ ucoauth.Locker     = sealedLocker{}
	_ ucoauth.Lister     = sealedLister{}
	_ ucoauth.Locker     = sealedLockerLister{}
	_ ucoauth.Lister     = sealedLockerLister{}
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
// open. Save first loads what is stored and refuses, with that error, to
// overwrite a record it cannot open; an absent or corrupt (ErrCorrupt)
// record is handled by inner's own rules. An unsealed value is refused
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
// under key cannot be opened. The check and the save are two steps, so every
// process sharing the inner store must be given the same keys.
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
	old, err := w.inner.Load(ctx, key)
	switch {
	case err == nil:
		if _, err := w.s.openToken(key, old); err != nil {
			return fmt.Errorf("tokenstore: Seal refuses to overwrite the stored record: %w", err)
		}
	case errors.Is(err, ucoauth.ErrTokenNotFound), errors.Is(err, ErrCorrupt):
		// inner's rules decide: a missing or corrupt record may be replaced.
	default:
		return err
	}
	return w.inner.Save(ctx, key, w.s.sealToken(key, tok))
}

// Delete removes key from the inner store.
func (w *sealed) Delete(ctx context.Context, key string) error { return w.inner.Delete(ctx, key) }

var _ ucoauth.Tombstoner = (*sealed)(nil)

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

// sealedStore is implemented by every store Seal returns.
type sealedStore interface{ sealedBase() *sealed }

func (w *sealed) sealedBase() *sealed { return w }

// Reseal rewrites, with the primary key, every record of store (a store
// returned by Seal over a ucoauth.Lister) that is not already sealed with it
// entirely: records sealed with an older key, and unsealed ones when the
// plaintext pseudo-key is configured. It returns how many it rewrote.
//
// Each record is rewritten under the store's lock when it is a Locker, and
// with the inner store's compare-and-set, so a refresh running at the same
// time wins (its token is newer) and no refresh token is lost. A record that
// cannot be opened is left untouched and reported; Reseal carries on with
// the others and returns every such error, joined. Once it returns n and a
// nil error, the older keys can be retired.
func Reseal(ctx context.Context, store ucoauth.TokenStore) (n int, err error) {
	ss, ok := store.(sealedStore)
	if !ok {
		return 0, fmt.Errorf("tokenstore: Reseal needs a store returned by Seal, not %T", store)
	}
	w := ss.sealedBase()
	lister, ok := w.inner.(ucoauth.Lister)
	if !ok {
		return 0, fmt.Errorf("tokenstore: Reseal needs an inner store that lists its keys (ucoauth.Lister); %T does not", w.inner)
	}
	keys, err := lister.Keys(ctx)
	if err != nil {
		return 0, fmt.Errorf("tokenstore: Reseal: listing keys: %w", err)
	}
	locker, _ := w.inner.(ucoauth.Locker)
	var errs []error
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return n, errors.Join(append(errs, err)...)
		}
		done, err := w.resealOne(ctx, locker, key)
		if err != nil {
			errs = append(errs, fmt.Errorf("tokenstore: Reseal %q: %w", key, err))
		}
		if done {
			n++
		}
	}
	return n, errors.Join(errs...)
}

func (w *sealed) resealOne(ctx context.Context, locker ucoauth.Locker, key string) (bool, error) {
	if locker != nil {
		unlock, err := locker.Lock(ctx, key)
		if err != nil {
			return false, err
		}
		defer unlock()
	}
	stored, err := w.inner.Load(ctx, key)
	if errors.Is(err, ucoauth.ErrTokenNotFound) {
		return false, nil // deleted since it was listed
	}
	if err != nil {
		return false, err
	}
	tok, err := w.s.openToken(key, stored) // even when sealed by primary: report what does not open
	if err != nil {
		return false, err
	}
	if w.s.sealedByPrimary(stored) {
		return false, nil
	}
	err = w.inner.Save(ctx, key, w.s.sealToken(key, tok))
	if errors.Is(err, ucoauth.ErrSuperseded) {
		return false, nil // a newer token, sealed by its writer, won
	}
	return err == nil, err
}

// ParseSealKeys reads keys from configuration, such as an environment
// variable: comma-separated "ID:BASE64" entries, the first being the primary
// key and the rest older keys, for Seal(inner, keys[0], keys[1:]...). BASE64
// is standard or URL base64, padded or not, of exactly 32 bytes (make one
// with `head -c32 /dev/urandom | base64`). The entry "plaintext" adds the
// plaintext pseudo-key (PlaintextKeyID) for a migration. Errors match
// ErrSealConfig and never quote a secret.
func ParseSealKeys(s string) ([]SealKey, error) {
	var keys []SealKey
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if entry == PlaintextKeyID {
			keys = append(keys, SealKey{ID: PlaintextKeyID})
			continue
		}
		id, b64, ok := strings.Cut(entry, ":")
		id, b64 = strings.TrimSpace(id), strings.TrimSpace(b64)
		if !ok || !validKeyID(id) {
			return nil, fmt.Errorf("%w: entry %d: want ID:BASE64 with an ID of 1 to %d characters of A-Z a-z 0-9 . _ -", ErrSealConfig, i+1, maxKeyIDLen)
		}
		secret, err := decodeSecret(b64)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: the secret is not base64", ErrSealConfig, id)
		}
		keys = append(keys, SealKey{ID: id, Secret: secret})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrSealConfig)
	}
	if _, err := newSealer(keys[0], keys[1:]); err != nil {
		return nil, err
	}
	return keys, nil
}

func decodeSecret(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

package tokenstore

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// This file is Seal's AEAD envelope: how one secret is sealed into a
// "ucs1:" value and opened again, and how a token's two secrets are. It uses
// sealkey.go and nothing above it.

// sealPrefix starts every sealed value: "ucs1:" + key ID + ":" +
// base64url(nonce | ciphertext | tag), unpadded. It is ASCII, so it fits any
// store that holds a token.
const sealPrefix = "ucs1:"

// ErrCannotOpen means a stored value could not be opened: its key ID is
// unknown, the key is wrong, it was tampered with or copied from another
// store key, or it is not sealed (and plaintext is not accepted). It never
// matches ErrCorrupt, because such a record is usually fine and the
// configuration is missing a key: no store may overwrite it. It is not
// temporary: retrying cannot fix it.
var ErrCannotOpen error = permanent("tokenstore: sealed token cannot be opened")

// OpenError is a stored value that could not be opened. It names the field
// and the key ID, never the value or a secret, and matches ErrCannotOpen
// (which says it is not temporary).
type OpenError struct {
	KeyID  string // the key ID the value names; empty when it names none
	field  string // "access token" or "refresh token"
	reason string // why it did not open, such as "unknown key ID"; never a secret
}

// Error says which field, which key ID and why.
func (e *OpenError) Error() string {
	if e.KeyID == "" {
		return fmt.Sprintf("%v: %s: %s", ErrCannotOpen, e.field, e.reason)
	}
	return fmt.Sprintf("%v: %s sealed with key ID %q: %s", ErrCannotOpen, e.field, e.KeyID, e.reason)
}

// Unwrap returns ErrCannotOpen.
func (e *OpenError) Unwrap() error { return ErrCannotOpen }

const (
	fieldAccess  = "access token"
	fieldRefresh = "refresh token"
)

// sealer holds the keys. It keeps the AEADs, built once, not the secrets.
type sealer struct {
	primaryID string
	aeads     map[string]cipher.AEAD
	plaintext bool // unsealed values open as themselves (migration)
}

func newSealer(primary SealKey, older []SealKey) (*sealer, error) {
	plaintext, err := checkKeys(primary, older)
	if err != nil {
		return nil, err
	}
	s := &sealer{primaryID: primary.ID, aeads: map[string]cipher.AEAD{}, plaintext: plaintext}
	for _, k := range append([]SealKey{primary}, older...) {
		if k.ID == PlaintextKeyID {
			continue
		}
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
			return "", &OpenError{field: field, reason: "sealed by an unsupported version of tokenstore.Seal"}
		case s.plaintext:
			return value, nil
		default:
			return "", &OpenError{field: field, reason: "not sealed (add the " + PlaintextKeyID + " pseudo-key to migrate a store sealed only in part)"}
		}
	}
	id, enc, ok := strings.Cut(rest, ":")
	if !ok || !validKeyID(id) {
		return "", &OpenError{field: field, reason: "malformed sealed value: no valid key ID"}
	}
	aead, ok := s.aeads[id]
	if !ok {
		return "", &OpenError{field: field, KeyID: id, reason: "unknown key ID: the key is not configured (retired too early?)"}
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	// The decoder skips CR and LF: insist on the one canonical encoding, so
	// that no two texts open to the same token.
	if err != nil || base64.RawURLEncoding.EncodeToString(raw) != enc {
		return "", &OpenError{field: field, KeyID: id, reason: "malformed sealed value: not canonical unpadded base64url"}
	}
	if len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", &OpenError{field: field, KeyID: id, reason: fmt.Sprintf("malformed sealed value: %d bytes is too short", len(raw))}
	}
	pt, err := aead.Open(nil, nil, raw, additionalData(storeKey, field, id))
	if err != nil {
		return "", &OpenError{field: field, KeyID: id, reason: "authentication failed: wrong key, tampered with, or sealed for another store key or field"}
	}
	if len(pt) == 0 {
		return "", &OpenError{field: field, KeyID: id, reason: "sealed an empty value"}
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
// scope, the grant ID and the provider's kept extras (ucoauth.ProviderExtras,
// no secrets by contract) are kept (all that any store keeps): a token from
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
	kept := ucoauth.ProviderExtras(tok)
	if scope != "" || ucoauth.GrantID(tok) != "" || len(kept) > 0 {
		// The grant ID stays readable, like the scope: it is no secret,
		// and the inner store's tombstones need it.
		return ucoauth.WithProviderExtras(ucoauth.WithGrantID(out.WithExtra(map[string]any{"scope": scope}), ucoauth.GrantID(tok)), kept)
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

package tokenstore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// FormatVersion is the version of the JSON record that Marshal writes.
const FormatVersion = 1

// Errors shared by the stores. None is temporary: retrying cannot fix them.
var (
	// ErrCorrupt means a stored record could not be read. The record is left
	// in place for inspection and is never replaced by an empty token.
	ErrCorrupt error = permanent("tokenstore: corrupt token record")
	// ErrInvalidKey means the key is empty.
	ErrInvalidKey error = permanent("tokenstore: empty key")
	// ErrInvalidToken means Save was given a token with no access token.
	ErrInvalidToken error = permanent("tokenstore: token has no access token")
)

// permanent is an error that says retrying will not help, so that a
// ucoauth.StoreError wrapping it is not Temporary.
type permanent string

func (p permanent) Error() string { return string(p) }

func (permanent) Temporary() bool { return false }

// record is the stored form. The key is kept so that a file can be checked
// against the key it was loaded for.
type record struct {
	Version      int       `json:"version"`
	Key          string    `json:"key"`
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	ExpiresIn    int64     `json:"expires_in,omitempty"` // the lifetime granted, in seconds
	Scope        string    `json:"scope,omitempty"`
}

// Marshal encodes tok as the versioned JSON record that the file and Redis
// stores keep, including its scope. Stores of your own may use it too.
func Marshal(key string, tok *oauth2.Token) ([]byte, error) {
	if tok == nil || tok.AccessToken == "" {
		return nil, ErrInvalidToken
	}
	scope, _ := tok.Extra("scope").(string)
	return json.Marshal(record{
		Version:      FormatVersion,
		Key:          key,
		AccessToken:  tok.AccessToken,
		TokenType:    tok.TokenType,
		RefreshToken: tok.RefreshToken,
		Expiry:       tok.Expiry,
		ExpiresIn:    tok.ExpiresIn,
		Scope:        scope,
	})
}

// Unmarshal decodes a record written by Marshal for key. Anything it cannot
// trust, including a record written for another key, is an error matching
// ErrCorrupt; the message never contains the record's secrets.
func Unmarshal(key string, data []byte) (*oauth2.Token, error) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: not JSON (%d bytes)", ErrCorrupt, len(data))
	}
	switch {
	case r.Version != FormatVersion:
		return nil, fmt.Errorf("%w: unsupported version %d (this build reads %d)", ErrCorrupt, r.Version, FormatVersion)
	case r.Key != key:
		return nil, fmt.Errorf("%w: record belongs to another key", ErrCorrupt)
	case r.AccessToken == "":
		return nil, fmt.Errorf("%w: no access token", ErrCorrupt)
	}
	tok := &oauth2.Token{
		AccessToken:  r.AccessToken,
		TokenType:    r.TokenType,
		RefreshToken: r.RefreshToken,
		Expiry:       r.Expiry,
		ExpiresIn:    r.ExpiresIn,
	}
	if r.Scope != "" {
		tok = tok.WithExtra(map[string]any{"scope": r.Scope})
	}
	return tok, nil
}

// recordKey returns the key a record was written for.
func recordKey(data []byte) (string, error) {
	var r struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(data, &r); err != nil || r.Key == "" {
		return "", fmt.Errorf("%w: no key in record (%d bytes)", ErrCorrupt, len(data))
	}
	return r.Key, nil
}

// Merge is the rule every store's Save applies: it returns what to write
// when tok is saved over old (nil when the key holds nothing). It refuses a
// token with no access token (ErrInvalidToken) and one that expires before
// old (ucoauth.ErrSuperseded), and it keeps old's refresh token when tok has
// none. A store of your own calls it inside its compare-and-set: read old,
// Merge, write the result only if old is still what is stored.
func Merge(old, tok *oauth2.Token) (*oauth2.Token, error) {
	if tok == nil || tok.AccessToken == "" {
		return nil, ErrInvalidToken
	}
	if old == nil {
		return tok, nil
	}
	if old.Expiry.After(tok.Expiry) {
		return nil, ucoauth.ErrSuperseded
	}
	if tok.RefreshToken == "" && old.RefreshToken != "" {
		t := *tok
		t.RefreshToken = old.RefreshToken
		scope, _ := tok.Extra("scope").(string)
		if scope == "" {
			return &t, nil
		}
		return t.WithExtra(map[string]any{"scope": scope}), nil
	}
	return tok, nil
}

// encodeOver returns the record Save writes for tok over old: merged by
// Merge, then marshalled.
func encodeOver(key string, old, tok *oauth2.Token) ([]byte, error) {
	merged, err := Merge(old, tok)
	if err != nil {
		return nil, err
	}
	return Marshal(key, merged)
}

func checkKey(key string) error {
	if key == "" {
		return ErrInvalidKey
	}
	return nil
}

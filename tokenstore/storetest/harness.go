package storetest

// What every part of the suite shares: the harness and its helpers. The
// parts (storetest.go, hostile.go, tombstone.go, lease.go) use this file,
// which uses none of them.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// Harness tells the suite how to make and share stores.
type Harness struct {
	// New returns an empty store, isolated from those of other tests.
	New func(t *testing.T) ucoauth.TokenStore
	// Peer returns a second handle on s's data, as another process would
	// open it. Nil means s itself is the only handle (an in-process store).
	Peer func(t *testing.T, s ucoauth.TokenStore) ucoauth.TokenStore
	// Abandon simulates the death of the process owning s while it holds
	// locks. Nil skips the lock-expiry test, for stores whose locks cannot
	// outlive their process.
	Abandon func(t *testing.T, s ucoauth.TokenStore)
	// LockTTL is how long an abandoned lock may stay held.
	LockTTL time.Duration
	// Plant stores raw as key's record in s exactly as given, bypassing
	// Save: what a newer build, another program or a damaged disk can leave
	// behind. Nil skips the subtests that need it. Set it for stores that
	// keep tokenstore's record format (as the stores of this repository do), whose Load must
	// then report tokenstore.ErrCorrupt and tokenstore.ErrNewerFormat.
	Plant func(t *testing.T, s ucoauth.TokenStore, key string, raw []byte)
	// Token makes the tokens the suite saves, in the shape of a provider's
	// (long lifetimes, provider extras such as a merchant's ID; see
	// ucoauth.RefreshPolicy): its access token is access, its refresh
	// token "rt-" + access, its expiry expiry, as [Token]'s; nil means
	// [Token].
	Token func(access string, expiry time.Time) *oauth2.Token
}

// token makes a token of the suite: h.Token's, or [Token]'s.
func (h Harness) token(access string, expiry time.Time) *oauth2.Token {
	if h.Token != nil {
		return h.Token(access, expiry)
	}
	return Token(access, expiry)
}

// Token returns a token for tests, with every field a store must keep.
func Token(access string, expiry time.Time) *oauth2.Token {
	return (&oauth2.Token{
		AccessToken:  access,
		TokenType:    "bearer",
		RefreshToken: "rt-" + access,
		Expiry:       expiry.Round(0),
	}).WithExtra(map[string]any{"scope": "order_read item_write"})
}

func ctx(t *testing.T) context.Context { return t.Context() }

// requireSame checks that got carries every stored field of want.
func requireSame(t *testing.T, want, got *oauth2.Token) {
	t.Helper()
	require.NotNil(t, got)
	assert.Equal(t, want.AccessToken, got.AccessToken, "access token")
	assert.Equal(t, want.RefreshToken, got.RefreshToken, "refresh token")
	assert.Equal(t, want.TokenType, got.TokenType, "token type")
	assert.True(t, want.Expiry.Equal(got.Expiry), "expiry: want %v, got %v", want.Expiry, got.Expiry)
	assert.Equal(t, want.Extra("scope"), got.Extra("scope"), "scope")
	assert.Equal(t, ucoauth.ProviderExtras(want), ucoauth.ProviderExtras(got), "provider extras")
}

// secretMark is in every secret the suite plants, to look for in errors.
const secretMark = "SECRET"

func permanentErr(t *testing.T, err error, msgAndArgs ...any) {
	t.Helper()
	var tmp interface{ Temporary() bool }
	if errors.As(err, &tmp) {
		assert.False(t, tmp.Temporary(), msgAndArgs...)
	}
	se := &ucoauth.StoreError{Op: "save", Err: err}
	assert.False(t, se.Temporary(), msgAndArgs...)
}

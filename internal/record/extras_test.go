package record

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// A provider's kept extras (a merchant's ID) survive a record and a Merge
// that keeps the old refresh token, beside scope and grant ID; a 30-day
// expiry is trusted as it is.
func TestRecordKeepsProviderExtrasAndLongLifetimes(t *testing.T) {
	exp := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	tok := &oauth2.Token{AccessToken: "at", RefreshToken: "rt", Expiry: exp, ExpiresIn: 30 * 24 * 3600}
	tok = ucoauth.WithProviderExtras(ucoauth.WithGrantID(tok.WithExtra(map[string]any{"scope": "s"}), "g-1"),
		map[string]string{"merchant_id": "M1"})
	b, err := Marshal("k", tok)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"extras":{"merchant_id":"M1"}`)
	got, err := Unmarshal("k", b)
	require.NoError(t, err)
	assert.Equal(t, "M1", got.Extra("merchant_id"))
	assert.Equal(t, "s", got.Extra("scope"))
	assert.Equal(t, "g-1", ucoauth.GrantID(got))
	assert.Equal(t, exp, got.Expiry.UTC(), "within MaxProviderLifetime: trusted")
	assert.EqualValues(t, 30*24*3600, got.ExpiresIn)

	noRT := ucoauth.WithProviderExtras(&oauth2.Token{AccessToken: "at2", Expiry: exp.Add(time.Hour)}, map[string]string{"merchant_id": "M1"})
	merged, err := Merge(got, noRT)
	require.NoError(t, err)
	assert.Equal(t, "rt", merged.RefreshToken)
	assert.Equal(t, "M1", merged.Extra("merchant_id"), "the merge keeps the extras")
}

// Too many extras, or one too long, cannot be stored (Save) and make a
// record corrupt (Load); the error names no value.
func TestRecordRefusesUnboundedExtras(t *testing.T) {
	many := map[string]string{}
	for i := range maxExtras + 1 {
		many[fmt.Sprint("k", i)] = "v"
	}
	for name, m := range map[string]map[string]string{
		"too many": many,
		"too long": {"merchant_id": "SECRET-" + strings.Repeat("x", 17<<10)},
		"bad utf8": {"merchant_id": "SECRET-\xff"},
	} {
		tok := ucoauth.WithProviderExtras(&oauth2.Token{AccessToken: "at"}, m)
		_, err := Marshal("k", tok)
		assert.True(t, errors.Is(err, ErrInvalidToken), "%s: %v", name, err)
		if err != nil {
			assert.NotContains(t, err.Error(), "SECRET", name)
		}
	}
	_, err := Unmarshal("k", []byte(`{"version":1,"key":"k","access_token":"at","extras":{"a":"`+strings.Repeat("x", 17<<10)+`"}}`))
	assert.ErrorIs(t, err, ErrCorrupt)
}

// A stored record cannot pass its own scope, grant ID or extras map off as
// provider extras: those names are dropped.
func TestRecordExtrasCannotShadowTheEngines(t *testing.T) {
	got, err := Unmarshal("k", []byte(`{"version":1,"key":"k","access_token":"at","scope":"s","grant":"g-1",`+
		`"extras":{"":"x","scope":"forged","ucoauth_grant":"g-forged","ucoauth_extras":"x","merchant_id":"M1"}}`))
	require.NoError(t, err)
	assert.Equal(t, "s", got.Extra("scope"))
	assert.Equal(t, "g-1", ucoauth.GrantID(got))
	assert.Equal(t, map[string]string{"merchant_id": "M1"}, ucoauth.ProviderExtras(got))
}

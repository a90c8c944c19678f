package record

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

func versionOf(t *testing.T, b []byte) int {
	var r struct {
		Version int `json:"version"`
	}
	require.NoError(t, json.Unmarshal(b, &r))
	return r.Version
}

// TestTokenRecordsStayVersion1: a token that carries no revocation is
// written as version 1, which builds from before tombstones read (they
// ignore the grant field); a version-1 record with no grant, as they
// wrote it, reads as a token of no grant.
func TestTokenRecordsStayVersion1(t *testing.T) {
	tok := ucoauth.WithGrantID(&oauth2.Token{AccessToken: "at", RefreshToken: "rt", Expiry: time.Now().Add(time.Hour)}, "g-1")
	b, err := EncodeOverRaw("m", nil, tok)
	require.NoError(t, err)
	assert.Equal(t, 1, versionOf(t, b))
	got, err := Unmarshal("m", b)
	require.NoError(t, err)
	assert.Equal(t, "g-1", ucoauth.GrantID(got))

	legacy := []byte(`{"version":1,"key":"m","access_token":"at","refresh_token":"rt","expiry":"2030-01-01T00:00:00Z","scope":"order_read"}`)
	got, err = Unmarshal("m", legacy)
	require.NoError(t, err)
	assert.Empty(t, ucoauth.GrantID(got))
	assert.Equal(t, "order_read", got.Extra("scope"))

	_, err = Unmarshal("m", []byte(`{"version":1,"key":"m","access_token":"","revoked":[{"grant":"","at":"2030-01-01T00:00:00Z"}]}`))
	assert.ErrorIs(t, err, ErrCorrupt, "revocations belong to version 2")
}

// TestRevocationRecordsAreVersion2: a tombstone, and a token saved over
// one within the retention, are version 2, which builds from before
// tombstones refuse to read or overwrite (ErrNewerFormat): they cannot
// bring a revoked grant back. After the retention the next save writes
// version 1 again.
func TestRevocationRecordsAreVersion2(t *testing.T) {
	now := time.Now()
	old, err := EncodeOverRaw("m", nil, ucoauth.WithGrantID(&oauth2.Token{AccessToken: "at-x", RefreshToken: "rt-x", Expiry: now.Add(time.Hour)}, "g-x"))
	require.NoError(t, err)
	tomb, err := EncodeTombstone("m", old, nil, now)
	require.NoError(t, err)
	assert.Equal(t, 2, versionOf(t, tomb))
	assert.NotContains(t, string(tomb), "at-x", "a tombstone holds no token")
	assert.NotContains(t, string(tomb), "rt-x")
	_, err = Unmarshal("m", tomb)
	assert.ErrorIs(t, err, ucoauth.ErrRevoked)

	y, err := EncodeOverRaw("m", tomb, ucoauth.WithGrantID(&oauth2.Token{AccessToken: "at-y", Expiry: now.Add(time.Hour)}, "g-y"))
	require.NoError(t, err)
	assert.Equal(t, 2, versionOf(t, y), "the reconnected record carries the revocation")
	_, err = EncodeOverRaw("m", y, ucoauth.WithGrantID(&oauth2.Token{AccessToken: "at-x2", Expiry: now.Add(2 * time.Hour)}, "g-x"))
	assert.ErrorIs(t, err, ucoauth.ErrRevoked)

	// Dated beyond the retention, the revocation is shed at the next save.
	aged, err := EncodeTombstone("m", old, nil, now.Add(-TombstoneRetention-time.Minute))
	require.NoError(t, err)
	_, err = Unmarshal("m", aged)
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
	assert.NotErrorIs(t, err, ucoauth.ErrRevoked)
	again, err := EncodeOverRaw("m", aged, ucoauth.WithGrantID(&oauth2.Token{AccessToken: "at-x3", Expiry: now.Add(time.Hour)}, "g-x"))
	require.NoError(t, err)
	assert.Equal(t, 1, versionOf(t, again))
}

// TestTombstoneRevocationsBounded: revoke after revoke, a record keeps at
// most maxRevoked revocations, the newest.
func TestTombstoneRevocationsBounded(t *testing.T) {
	var rec []byte
	now := time.Now()
	for i := range 3 * MaxRevoked {
		var err error
		rec, err = EncodeTombstone("m", rec, []string{fmt.Sprintf("g-%d", i)}, now.Add(time.Duration(i)*time.Second))
		require.NoError(t, err)
	}
	_, revoked, err := Decode("m", rec)
	require.NoError(t, err)
	assert.Len(t, revoked, MaxRevoked)
	assert.True(t, IsRevoked(revoked, fmt.Sprintf("g-%d", 3*MaxRevoked-1)), "the newest is kept")
	assert.True(t, IsRevoked(revoked, ""), "tokens with no grant stay refused")
	assert.False(t, IsRevoked(revoked, "g-0"), "the oldest went")

	_, err = EncodeTombstone("m", nil, []string{string(make([]byte, MaxGrantLen+1))}, now)
	assert.ErrorIs(t, err, ErrInvalidToken, "a grant ID too long")
	_, err = EncodeTombstone("m", nil, []string{"\xff"}, now)
	assert.ErrorIs(t, err, ErrInvalidToken, "a grant ID that is not UTF-8")
}

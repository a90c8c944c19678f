package tokenstore

import (
	"testing"

	"github.com/ucoauth/go-ucoauth/internal/record"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// MarshalForTest is the record Marshal writes for tok, as a string.
func MarshalForTest(t testing.TB, key string, tok *oauth2.Token) string {
	t.Helper()
	b, err := record.Marshal(key, tok)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// PlantRecordForTest seals tok with sealed (a store Seal returned) as its
// Save would, and plants the record over whatever inner holds for key,
// bypassing every check: another configuration's write.
func PlantRecordForTest(t testing.TB, key string, plant func([]byte), sealedStore ucoauth.TokenStore, tok *oauth2.Token) error {
	t.Helper()
	w := sealedStore.(interface{ sealedBase() *sealed }).sealedBase()
	b, err := record.Marshal(key, w.s.sealToken(key, tok))
	if err != nil {
		return err
	}
	plant(b)
	return nil
}

// KnownRecords is how many records s (a store Seal returned) remembers.
func KnownRecords(s ucoauth.TokenStore) int {
	w := s.(interface{ sealedBase() *sealed }).sealedBase()
	w.known.mu.Lock()
	defer w.known.mu.Unlock()
	return len(w.known.m)
}

// MaxKnownRecords bounds KnownRecords.
const MaxKnownRecords = maxKnownRecords

// RawMemory is key's stored record in m, as is.
func RawMemory(m *Memory, key string) []byte {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	return append([]byte(nil), m.s.data[key]...)
}

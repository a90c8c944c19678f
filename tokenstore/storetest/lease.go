package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// Lease takes key's lease in s, checks that Keep confirms it, lets
// lose take it away (nil: only Release), and checks that Keep then says
// ErrLockLost and that the lock is free again once the other holder, if
// lose made one, let it go (the func lose returns).
func Lease(t *testing.T, s ucoauth.TokenStore, lose func() func()) {
	ll, ok := s.(ucoauth.LeaseLocker)
	require.True(t, ok, "%T is a LeaseLocker", s)
	l, err := ll.LockLease(t.Context(), "K")
	require.NoError(t, err)
	assert.NoError(t, l.Keep(t.Context()), "held")
	assert.NoError(t, l.Keep(t.Context()), "still held")
	if lose != nil {
		other := lose()
		assert.ErrorIs(t, l.Keep(t.Context()), ucoauth.ErrLockLost, "lost")
		if other != nil {
			defer other()
		}
	}
	l.Release()
	l.Release() // twice is fine
	assert.ErrorIs(t, l.Keep(t.Context()), ucoauth.ErrLockLost, "released")
	if lose != nil {
		return // another holder may hold it
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	unlock, err := ll.Lock(ctx, "K")
	require.NoError(t, err, "free again")
	unlock()
}

// RefusesInvalidKeys checks that s refuses every key of InvalidUTF8Keys up
// front, with tokenstore.ErrInvalidKey, in every operation (Save, Load,
// Delete, Lock), instead of saving it and then failing to load it as
// ErrCorrupt, and that its error says why.
func RefusesInvalidKeys(t *testing.T, s ucoauth.TokenStore) {
	t.Helper()
	name := fmt.Sprintf("%T", s)
	tok := Token("at", time.Now().Add(time.Hour))
	for _, k := range InvalidUTF8Keys {
		err := s.Save(t.Context(), k, tok)
		require.ErrorIs(t, err, tokenstore.ErrInvalidKey, "%s: Save(%q)", name, k)
		assert.Contains(t, err.Error(), "not valid UTF-8", "%s: the error says why", name)
		_, err = s.Load(t.Context(), k)
		assert.ErrorIs(t, err, tokenstore.ErrInvalidKey, "%s: Load(%q)", name, k)
		assert.ErrorIs(t, s.Delete(t.Context(), k), tokenstore.ErrInvalidKey, "%s: Delete(%q)", name, k)
		_, err = s.(ucoauth.Locker).Lock(t.Context(), k)
		assert.ErrorIs(t, err, tokenstore.ErrInvalidKey, "%s: Lock(%q)", name, k)
	}
	_, err := s.Load(t.Context(), "")
	assert.ErrorIs(t, err, tokenstore.ErrInvalidKey, "%s: the empty key", name)
}

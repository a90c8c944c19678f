package tokenstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// Memory is an in-process TokenStore and Locker, for tests, development and
// single-process programs. Tokens are kept encoded, so neither a caller of
// Save nor of Load can change what is stored. Its zero value is not usable;
// call NewMemory.
//
// Printing it shows String: its state sits behind a pointer, so no fmt verb
// or log handler can reach a stored token (or race with a Save).
type Memory struct{ s *memState }

type memState struct {
	mu    sync.Mutex
	data  map[string][]byte
	locks map[string]chan struct{}
}

var (
	_ ucoauth.TokenStore  = (*Memory)(nil)
	_ ucoauth.Locker      = (*Memory)(nil)
	_ ucoauth.LeaseLocker = (*Memory)(nil)
	_ ucoauth.Lister      = (*Memory)(nil)
	_ ucoauth.Tombstoner  = (*Memory)(nil)
)

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{&memState{data: map[string][]byte{}, locks: map[string]chan struct{}{}}}
}

// Load returns the token for key, or an error matching
// ucoauth.ErrTokenNotFound (nothing stored), ErrCorrupt or ErrNewerFormat.
func (m *Memory) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	m.s.mu.Lock()
	b, ok := m.s.data[key]
	m.s.mu.Unlock()
	if !ok {
		return nil, ucoauth.ErrTokenNotFound
	}
	return unmarshal(key, b)
}

// Save stores tok under key. It refuses a token that expires before the
// stored one (ucoauth.ErrSuperseded), keeps the stored refresh token when
// tok has none, and never overwrites a record of a newer format
// (ErrNewerFormat).
func (m *Memory) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	_, err := m.saveChecked(ctx, key, tok, nil)
	return err
}

// saveChecked is Save, running check (when not nil) on the stored record
// under the store's lock first; see checkedSaver.
func (m *Memory) saveChecked(_ context.Context, key string, tok *oauth2.Token, check func(string, []byte) error) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	old := m.s.data[key]
	if check != nil {
		if err := check(key, old); err != nil {
			return nil, err
		}
	}
	b, err := encodeOverRaw(key, old, tok)
	if err != nil {
		return nil, err
	}
	m.s.data[key] = b // never changed in place: check's callers may keep it
	return b, nil
}

// String describes the store without its tokens.
func (m *Memory) String() string {
	if m == nil || m.s == nil {
		return "tokenstore.Memory(unusable: not made by NewMemory)"
	}
	m.s.mu.Lock()
	n := len(m.s.data)
	m.s.mu.Unlock()
	return fmt.Sprintf("tokenstore.Memory(%d keys)", n)
}

// Keys returns every key that holds a token: not a tombstone, and it
// removes the tombstones that expired (see TombstoneRetention).
func (m *Memory) Keys(ctx context.Context) ([]string, error) {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	keys := make([]string, 0, len(m.s.data))
	now := time.Now()
	for k, b := range m.s.data {
		switch token, expired := recordState(k, b, now); {
		case token:
			keys = append(keys, k)
		case expired:
			delete(m.s.data, k)
		}
	}
	return keys, nil
}

// Delete removes key.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	m.s.mu.Lock()
	delete(m.s.data, key)
	m.s.mu.Unlock()
	return nil
}

// Lock takes key's refresh lock within this process.
func (m *Memory) Lock(ctx context.Context, key string) (func(), error) {
	l, err := m.LockLease(ctx, key)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// LockLease is Lock, returning the held lock. It cannot be lost: Keep
// fails only after Release.
func (m *Memory) LockLease(ctx context.Context, key string) (ucoauth.Lease, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	m.s.mu.Lock()
	ch, ok := m.s.locks[key]
	if !ok {
		ch = make(chan struct{}, 1)
		m.s.locks[key] = ch
	}
	m.s.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return &memLease{release: func() { <-ch }}, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("tokenstore: waiting for lock on %q: %w", key, ctx.Err())
	}
}

// Tombstone replaces key's record with a tombstone; see ucoauth.Tombstoner.
func (m *Memory) Tombstone(ctx context.Context, key string, grants ...string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	b, err := encodeTombstone(key, m.s.data[key], grants, time.Now())
	if err != nil {
		return err
	}
	m.s.data[key] = b
	return nil
}

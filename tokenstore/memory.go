package tokenstore

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// Memory is an in-process TokenStore and Locker, for tests, development and
// single-process programs. Tokens are kept encoded, so neither a caller of
// Save nor of Load can change what is stored. Its zero value is not usable;
// call NewMemory.
type Memory struct {
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
	return &Memory{data: map[string][]byte{}, locks: map[string]chan struct{}{}}
}

// Load returns the token for key, or an error matching
// ucoauth.ErrTokenNotFound (nothing stored), ErrCorrupt or ErrNewerFormat.
func (m *Memory) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	m.mu.Lock()
	b, ok := m.data[key]
	m.mu.Unlock()
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
	if err := checkKey(key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := encodeOverRaw(key, m.data[key], tok)
	if err != nil {
		return err
	}
	m.data[key] = b
	return nil
}

// String describes the store without its tokens.
func (m *Memory) String() string {
	m.mu.Lock()
	n := len(m.data)
	m.mu.Unlock()
	return fmt.Sprintf("tokenstore.Memory(%d keys)", n)
}

// GoString is String, so that %#v hides the tokens too.
func (m *Memory) GoString() string { return m.String() }

// Format prints String for every verb: the store holds tokens.
func (m *Memory) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(m.String())) }

// LogValue describes the store for log/slog without its tokens.
func (m *Memory) LogValue() slog.Value { return slog.StringValue(m.String()) }

// Keys returns every key that holds a token: not a tombstone, and it
// removes the tombstones that expired (see TombstoneRetention).
func (m *Memory) Keys(ctx context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.data))
	now := time.Now()
	for k, b := range m.data {
		switch token, expired := recordState(k, b, now); {
		case token:
			keys = append(keys, k)
		case expired:
			delete(m.data, k)
		}
	}
	return keys, nil
}

// Delete removes key.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.data, key)
	m.mu.Unlock()
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
	m.mu.Lock()
	ch, ok := m.locks[key]
	if !ok {
		ch = make(chan struct{}, 1)
		m.locks[key] = ch
	}
	m.mu.Unlock()
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
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := encodeTombstone(key, m.data[key], grants, time.Now())
	if err != nil {
		return err
	}
	m.data[key] = b
	return nil
}

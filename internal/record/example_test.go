package record_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"testing"

	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/record"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// versionedKV stands in for your database: a value and a version per key,
// and a compare-and-set that writes only if the version is unchanged (an
// UPDATE ... WHERE version = ?, a Redis WATCH, an etcd transaction).
type versionedKV struct {
	mu   sync.Mutex
	vals map[string][]byte
	vers map[string]int
}

func (kv *versionedKV) get(k string) ([]byte, int) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return kv.vals[k], kv.vers[k]
}

func (kv *versionedKV) compareAndSet(k string, ver int, v []byte) bool {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if kv.vers[k] != ver {
		return false
	}
	kv.vals[k], kv.vers[k] = v, ver+1
	return true
}

// kvStore is a TokenStore of your own. Save applies Merge inside
// a compare-and-set, so it keeps every guarantee storetest checks.
type kvStore struct{ kv *versionedKV }

func (s kvStore) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	b, _ := s.kv.get(key)
	if b == nil {
		return nil, ucoauth.ErrTokenNotFound
	}
	return record.Unmarshal(key, b) // a fresh copy, with its expiry bounded
}

func (s kvStore) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	for {
		b, ver := s.kv.get(key)
		var old *oauth2.Token
		if b != nil {
			var err error
			old, err = record.Unmarshal(key, b)
			if errors.Is(err, record.ErrNewerFormat) {
				return err // a newer build's record: never overwrite it
			} // any other error is a corrupt record, which tok replaces
		}
		merged, err := record.Merge(old, tok) // ErrSuperseded, or what to write
		if err != nil {
			return err
		}
		nb, err := record.Marshal(key, merged)
		if err != nil {
			return err
		}
		if s.kv.compareAndSet(key, ver, nb) {
			return nil
		}
		// Another Save got in between: merge with what it wrote.
	}
}

func (s kvStore) Delete(ctx context.Context, key string) error {
	for {
		b, ver := s.kv.get(key)
		if b == nil || s.kv.compareAndSet(key, ver, nil) {
			return nil
		}
	}
}

func ExampleMerge() {
	var store ucoauth.TokenStore = kvStore{&versionedKV{vals: map[string][]byte{}, vers: map[string]int{}}}
	ctx := context.Background()
	now := time.Now()

	_ = store.Save(ctx, "m", &oauth2.Token{AccessToken: "at-1", RefreshToken: "rt-1", Expiry: now.Add(time.Hour)})
	err := store.Save(ctx, "m", &oauth2.Token{AccessToken: "late", RefreshToken: "rt-0", Expiry: now.Add(time.Minute)})
	fmt.Println(errors.Is(err, ucoauth.ErrSuperseded))

	_ = store.Save(ctx, "m", &oauth2.Token{AccessToken: "at-2", Expiry: now.Add(2 * time.Hour)})
	tok, _ := store.Load(ctx, "m")
	fmt.Println(tok.AccessToken, tok.RefreshToken)
	// Output:
	// true
	// at-2 rt-1
}

// TestMergeExampleStoreConformance runs the suite on ExampleMerge's store,
// so that the example shows a store that really conforms.
func TestMergeExampleStoreConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) ucoauth.TokenStore {
			return kvStore{&versionedKV{vals: map[string][]byte{}, vers: map[string]int{}}}
		},
		Plant: func(t *testing.T, s ucoauth.TokenStore, key string, raw []byte) {
			kv := s.(kvStore).kv
			_, ver := kv.get(key)
			require.True(t, kv.compareAndSet(key, ver, raw))
		},
	})
}

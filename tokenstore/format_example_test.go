package tokenstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ucoauth/go-ucoauth/tokenstore"
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

// kvStore is a TokenStore of your own. Save applies tokenstore.Merge inside
// a compare-and-set, so it keeps every guarantee storetest checks.
type kvStore struct{ kv *versionedKV }

func (s kvStore) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	b, _ := s.kv.get(key)
	if b == nil {
		return nil, ucoauth.ErrTokenNotFound
	}
	return tokenstore.Unmarshal(key, b) // a fresh copy, with its expiry bounded
}

func (s kvStore) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	for {
		b, ver := s.kv.get(key)
		var old *oauth2.Token
		if b != nil {
			var err error
			old, err = tokenstore.Unmarshal(key, b)
			if errors.Is(err, tokenstore.ErrNewerFormat) {
				return err // a newer build's record: never overwrite it
			} // any other error is a corrupt record, which tok replaces
		}
		merged, err := tokenstore.Merge(old, tok) // ErrSuperseded, or what to write
		if err != nil {
			return err
		}
		nb, err := tokenstore.Marshal(key, merged)
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

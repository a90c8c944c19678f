package ucoauth_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/ucoauth"
)

type tempErr struct{}

func (tempErr) Error() string   { return "store unreachable" }
func (tempErr) Temporary() bool { return true }

type permErr struct{}

func (permErr) Error() string   { return "record refused" }
func (permErr) Temporary() bool { return false }

// hostileStore counts calls and misbehaves as told.
type hostileStore struct {
	ucoauth.TokenStore
	loads, saves atomic.Int64
	load         func(ctx context.Context, key string) (*oauth2.Token, error)
	save         func(ctx context.Context, key string, tok *oauth2.Token) error
}

func (h *hostileStore) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	h.loads.Add(1)
	if h.load != nil {
		return h.load(ctx, key)
	}
	return h.TokenStore.Load(ctx, key)
}

func (h *hostileStore) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	h.saves.Add(1)
	if h.save != nil {
		return h.save(ctx, key, tok)
	}
	return h.TokenStore.Save(ctx, key, tok)
}

// TestHostileStoreCausesNoStorm: a store failing loads or saves, for a
// while or for good, returning expired tokens on every load, or refusing
// every save as superseded, costs at most one token request per key per
// step, and no request at all while the store cannot be read.
func TestHostileStoreCausesNoStorm(t *testing.T) {
	ok := func(n int64, _ string) (int, map[string]string, string) { return 200, nil, stormOK(n, "3600") }
	past := func(_ context.Context, key string) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: "AT-past-" + key, RefreshToken: "RT-past-" + key, Expiry: time.Unix(0, 0)}, nil
	}
	cases := map[string]func(h *hostileStore){
		"load-temp": func(h *hostileStore) {
			h.load = func(context.Context, string) (*oauth2.Token, error) { return nil, tempErr{} }
		},
		"load-perm": func(h *hostileStore) {
			h.load = func(context.Context, string) (*oauth2.Token, error) { return nil, permErr{} }
		},
		"load-notfound": func(h *hostileStore) {
			h.load = func(context.Context, string) (*oauth2.Token, error) { return nil, ucoauth.ErrTokenNotFound }
		},
		"load-past": func(h *hostileStore) { h.load = past },
		"load-past-save-temp": func(h *hostileStore) {
			h.load = past
			h.save = func(context.Context, string, *oauth2.Token) error { return tempErr{} }
		},
		"save-temp": func(h *hostileStore) {
			h.save = func(context.Context, string, *oauth2.Token) error { return tempErr{} }
		},
		"save-perm": func(h *hostileStore) {
			h.save = func(context.Context, string, *oauth2.Token) error { return permErr{} }
		},
		"save-superseded": func(h *hostileStore) {
			h.save = func(context.Context, string, *oauth2.Token) error { return fmt.Errorf("x: %w", ucoauth.ErrSuperseded) }
		},
		"save-superseded-load-past": func(h *hostileStore) {
			h.load = past
			h.save = func(context.Context, string, *oauth2.Token) error { return fmt.Errorf("x: %w", ucoauth.ErrSuperseded) }
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			var hs *hostileStore
			tok, _ := stormScenarioStore(t, ok, nil, func(s ucoauth.TokenStore) ucoauth.TokenStore {
				hs = &hostileStore{TokenStore: s}
				setup(hs)
				return hs
			}, 120, 5*time.Second)
			t.Logf("%s: token requests %d, loads %d, saves %d", name, tok, hs.loads.Load(), hs.saves.Load())
			assert.LessOrEqual(t, tok, int64(4*20))
			if name == "load-temp" || name == "load-perm" || name == "load-notfound" {
				assert.Zero(t, tok, "a token request without a look at the store")
			}
		})
	}
}

package square_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/square/squaretest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// buryReceiver is an application's webhook endpoint that buries revoked
// merchants in store and forgets them in m, and hands out each outcome.
func buryReceiver(t *testing.T, key string, store ucoauth.TokenStore, m *ucoauth.Manager) (string, chan error) {
	outcomes := make(chan error, 4)
	var url string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := square.Webhook{SignatureKey: key, NotificationURL: url}.Bury(r.Context(), r, store, m)
		outcomes <- err
		if errors.Is(err, square.ErrBadSignature) {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(srv.Close)
	url = srv.URL + "/square/webhook"
	return url, outcomes
}

// connect runs the code flow for merchant and saves its token under the
// merchant's ID.
func connect(t *testing.T, sq *squaretest.Server, cfg *oauth2.Config, store ucoauth.TokenStore, merchant string) *oauth2.Token {
	t.Helper()
	code, err := sq.Authorize(t.Context(), cfg, "st", merchant)
	require.NoError(t, err)
	tok, err := ucoauth.Exchange(t.Context(), cfg, code, withSquare)
	require.NoError(t, err)
	require.NoError(t, store.Save(t.Context(), merchant, tok))
	return tok
}

// A merchant disconnects in Square's dashboard; the signed webhook (a real
// HMAC-SHA256 from the fake) buries it in one call: the store holds a
// tombstone that refuses the old grant, the Manager forgets the source, and
// a new connection is let in.
func TestWebhookBuriesTheRevokedMerchant(t *testing.T) {
	sq := newFake(t)
	ctx := t.Context()
	cfg := sq.Config("MERCHANT_PROFILE_READ")
	store, err := tokenstore.NewFile(t.TempDir())
	require.NoError(t, err)
	old := connect(t, sq, cfg, store, "M-GONE")
	other := connect(t, sq, cfg, store, "M-STAYS")
	m := ucoauth.NewManager(cfg, store, withSquare)
	defer m.Close()
	_, err = m.Source("M-GONE").Token()
	require.NoError(t, err)
	require.Equal(t, ucoauth.StateFresh, m.Status("M-GONE").State, "precondition: served")

	hook, outcomes := buryReceiver(t, sq.WebhookKey, store, m)
	require.Positive(t, sq.DisconnectMerchant("M-GONE"))
	status, err := sq.SendRevokedWebhook(ctx, hook, "M-GONE")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	require.NoError(t, <-outcomes)

	_, err = store.Load(ctx, "M-GONE")
	assert.ErrorIs(t, err, ucoauth.ErrRevoked, "a tombstone")
	assert.ErrorIs(t, store.Save(ctx, "M-GONE", old), ucoauth.ErrRevoked, "a process holding the old grant cannot save it back")
	assert.Equal(t, ucoauth.StateNotLoaded, m.Status("M-GONE").State, "the Manager forgot the source")
	_, err = m.Source("M-GONE").Token()
	assert.ErrorIs(t, err, ucoauth.ErrReauthorizationRequired)
	kept, err := store.Load(ctx, "M-STAYS")
	require.NoError(t, err)
	assert.Equal(t, other.AccessToken, kept.AccessToken, "another merchant is untouched")
	assert.Zero(t, sq.Stats().Revoke, "nothing is sent to Square, which revoked already")

	// The same webhook again (Square retries) is no error.
	status, err = sq.SendRevokedWebhook(ctx, hook, "M-GONE")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	require.NoError(t, <-outcomes)

	m.Forget("M-GONE")
	fresh := connect(t, sq, cfg, store, "M-GONE")
	got, err := m.Source("M-GONE").Token()
	require.NoError(t, err, "a new connection replaces the tombstone")
	assert.Equal(t, fresh.AccessToken, got.AccessToken)
}

// A forged webhook (another key) buries nothing; a late one, whose
// revocation predates the merchant's new connection, leaves the new grant
// alone.
func TestWebhookBuryRefusesForgeriesAndLateEvents(t *testing.T) {
	sq := newFake(t)
	ctx := t.Context()
	cfg := sq.Config("MERCHANT_PROFILE_READ")
	store := tokenstore.NewMemory()
	tok := connect(t, sq, cfg, store, "M1")
	hook, outcomes := buryReceiver(t, sq.WebhookKey, store, nil)

	status, err := squaretest.PostWebhook(ctx, hook, "not-the-subscription-key", sq.RevokedEvent("M1", "MERCHANT"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.ErrorIs(t, <-outcomes, square.ErrBadSignature)
	got, err := store.Load(ctx, "M1")
	require.NoError(t, err, "a forgery buries nothing")
	assert.Equal(t, tok.AccessToken, got.AccessToken)

	// Revoked an hour ago, on Square's clock; the token stored now is a
	// new connection's.
	sq.SetClock(func() time.Time { return time.Now().Add(-time.Hour) })
	late := sq.RevokedEvent("M1", "MERCHANT")
	sq.SetClock(time.Now)
	status, err = squaretest.PostWebhook(ctx, hook, sq.WebhookKey, late)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.ErrorIs(t, <-outcomes, square.ErrReconnectedSince)
	_, err = store.Load(ctx, "M1")
	assert.NoError(t, err, "the new grant is kept")
}

// A seller who disconnects and connects again 20 seconds later keeps the
// new grant when the revocation's webhook arrives after it (Square
// delivers webhooks late and retries them): a new connection is told
// from the revoked one by more than clock skew, not by a minute.
func TestWebhookBuryKeepsAQuickReconnection(t *testing.T) {
	sq := newFake(t)
	ctx := t.Context()
	cfg := sq.Config("MERCHANT_PROFILE_READ")
	store := tokenstore.NewMemory()
	hook, outcomes := buryReceiver(t, sq.WebhookKey, store, nil)

	sq.SetClock(func() time.Time { return time.Now().Add(-20 * time.Second) })
	revoked := sq.RevokedEvent("M1", "MERCHANT") // revoked 20 s ago
	sq.SetClock(time.Now)
	fresh := connect(t, sq, cfg, store, "M1") // connected again now
	status, err := squaretest.PostWebhook(ctx, hook, sq.WebhookKey, revoked)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.ErrorIs(t, <-outcomes, square.ErrReconnectedSince)
	got, err := store.Load(ctx, "M1")
	require.NoError(t, err, "the new grant is kept")
	assert.Equal(t, fresh.AccessToken, got.AccessToken)
}

// flakyLoad is a store whose next Load fails with an outage (a timeout),
// as a Redis under load does, while Tombstone still works.
type flakyLoad struct {
	*tokenstore.Memory
	fail atomic.Bool
}

func (f *flakyLoad) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	if f.fail.CompareAndSwap(true, false) {
		return nil, &ucoauth.StoreError{Op: "load", Key: key, Err: context.DeadlineExceeded}
	}
	return f.Memory.Load(ctx, key)
}

// A late webhook meeting a store outage on its Load buries nothing: Bury
// cannot tell a new connection without reading the stored token, so it
// answers a store error (Square retries the webhook) instead of burying a
// grant that may be new. A record that cannot be opened is still buried.
func TestWebhookBuryOnAStoreOutageBuriesNothing(t *testing.T) {
	sq := newFake(t)
	ctx := t.Context()
	cfg := sq.Config("MERCHANT_PROFILE_READ")
	store := &flakyLoad{Memory: tokenstore.NewMemory()}
	hook, outcomes := buryReceiver(t, sq.WebhookKey, store, nil)

	sq.SetClock(func() time.Time { return time.Now().Add(-time.Hour) })
	late := sq.RevokedEvent("M1", "MERCHANT") // revoked an hour ago
	sq.SetClock(time.Now)
	fresh := connect(t, sq, cfg, store, "M1") // connected again since
	store.fail.Store(true)
	_, err := squaretest.PostWebhook(ctx, hook, sq.WebhookKey, late)
	require.NoError(t, err)
	err = <-outcomes
	require.Error(t, err, "a store error: Square retries")
	assert.NotErrorIs(t, err, square.ErrReconnectedSince)
	got, err := store.Load(ctx, "M1")
	require.NoError(t, err, "the new grant is kept")
	assert.Equal(t, fresh.AccessToken, got.AccessToken)

	// Retried with the store back: the new connection is recognized.
	_, err = squaretest.PostWebhook(ctx, hook, sq.WebhookKey, late)
	require.NoError(t, err)
	assert.ErrorIs(t, <-outcomes, square.ErrReconnectedSince)
}

// A record this process cannot open (sealed with a key it lacks) is no
// outage: the revoked merchant is buried all the same.
func TestWebhookBuryBuriesARecordItCannotOpen(t *testing.T) {
	sq := newFake(t)
	ctx := t.Context()
	cfg := sq.Config("MERCHANT_PROFILE_READ")
	mem := tokenstore.NewMemory()
	sealWith := func(b byte) ucoauth.TokenStore {
		keys, err := tokenstore.ParseSealKeys(fmt.Sprintf("k%d:%s", b, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b, 9}, 16))))
		require.NoError(t, err)
		s, err := tokenstore.Seal(mem, keys[0])
		require.NoError(t, err)
		return s
	}
	connect(t, sq, cfg, sealWith(1), "M1")
	other := sealWith(2)
	_, err := other.Load(ctx, "M1")
	require.ErrorIs(t, err, tokenstore.ErrCannotOpen, "precondition: this process lacks the key")
	hook, outcomes := buryReceiver(t, sq.WebhookKey, other, nil)
	require.Positive(t, sq.DisconnectMerchant("M1"))
	_, err = sq.SendRevokedWebhook(ctx, hook, "M1")
	require.NoError(t, err)
	require.NoError(t, <-outcomes)
	_, err = mem.Load(ctx, "M1")
	assert.ErrorIs(t, err, ucoauth.ErrRevoked, "buried")
}

// Bury with a store of one's own that keeps no tombstones deletes the key,
// and a Key function maps the merchant to the store key.
func TestWebhookBuryDeletesWithoutTombstones(t *testing.T) {
	sq := newFake(t)
	ctx := context.Background()
	mem := tokenstore.NewMemory()
	store := plainStore{mem}
	require.NoError(t, mem.Save(ctx, "tenant/M1", sq.Issue("M1")))
	var url string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wh := square.Webhook{SignatureKey: sq.WebhookKey, NotificationURL: url, Key: func(id string) string { return "tenant/" + id }}
		_, err := wh.Bury(r.Context(), r, store, nil)
		assert.NoError(t, err)
	}))
	defer srv.Close()
	url = srv.URL
	_, err := sq.SendRevokedWebhook(ctx, url, "M1")
	require.NoError(t, err)
	_, err = mem.Load(ctx, "tenant/M1")
	assert.ErrorIs(t, err, ucoauth.ErrTokenNotFound)
}

// plainStore hides every method but TokenStore's: a store with no
// tombstones.
type plainStore struct{ s ucoauth.TokenStore }

func (p plainStore) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	return p.s.Load(ctx, key)
}
func (p plainStore) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	return p.s.Save(ctx, key, tok)
}
func (p plainStore) Delete(ctx context.Context, key string) error { return p.s.Delete(ctx, key) }

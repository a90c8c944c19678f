package square_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/square/squaretest"
)

// receiver is an application's webhook endpoint: it verifies with key at
// the URL it believes it is served at, and hands out what it got.
func receiver(t *testing.T, key string, url func() string) (*httptest.Server, chan *square.Revocation, chan error) {
	got, errs := make(chan *square.Revocation, 1), make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rev, err := square.VerifyRevokedWebhook(r, key, url())
		if err != nil {
			errs <- err
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got <- rev
	}))
	t.Cleanup(srv.Close)
	return srv, got, errs
}

func TestRevokedWebhookWithARealHMAC(t *testing.T) {
	sq := newFake(t)
	ctx := context.Background()
	var srv *httptest.Server
	srv, got, _ := receiver(t, sq.WebhookKey, func() string { return srv.URL + "/square/webhook" })
	status, err := sq.SendRevokedWebhook(ctx, srv.URL+"/square/webhook", "M-GONE")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	rev := <-got
	assert.Equal(t, "M-GONE", rev.MerchantID)
	assert.Equal(t, "MERCHANT", rev.RevokerType)
	assert.NotEmpty(t, rev.EventID)
	assert.False(t, rev.RevokedAt.IsZero())
}

func TestRevokedWebhookRefusesForgeries(t *testing.T) {
	sq := newFake(t)
	ctx := context.Background()
	var srv *httptest.Server
	srv, _, errs := receiver(t, sq.WebhookKey, func() string { return srv.URL + "/hook" })
	hook := srv.URL + "/hook"
	body := sq.RevokedEvent("M1", "MERCHANT")

	status, err := squaretest.PostWebhook(ctx, hook, "another-key", body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.ErrorIs(t, <-errs, square.ErrBadSignature, "wrong key")

	status, err = squaretest.PostWebhook(ctx, hook+"?x=1", sq.WebhookKey, body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.ErrorIs(t, <-errs, square.ErrBadSignature, "signed for another URL")

	sig := square.Sign(sq.WebhookKey, hook, body)
	tampered := bytes.Replace(body, []byte(`"M1"`), []byte(`"M2"`), 1)
	require.NotEqual(t, body, tampered)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook, bytes.NewReader(tampered))
	require.NoError(t, err)
	req.Header.Set(square.HeaderSignature, sig)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	assert.ErrorIs(t, <-errs, square.ErrBadSignature, "tampered body")

	res, err = http.Post(hook, "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	res.Body.Close()
	assert.ErrorIs(t, <-errs, square.ErrBadSignature, "no signature header")
}

func TestSignIsSquaresHMAC(t *testing.T) {
	// Computed independently: HMAC-SHA256(key, url + body), standard base64.
	m := hmac.New(sha256.New, []byte("k3y"))
	m.Write([]byte("https://app.example/hook{\"a\":1}"))
	want := base64.StdEncoding.EncodeToString(m.Sum(nil))
	assert.Equal(t, want, square.Sign("k3y", "https://app.example/hook", []byte(`{"a":1}`)))
	assert.NoError(t, square.VerifySignature("k3y", "https://app.example/hook", []byte(`{"a":1}`), want))
}

func TestParseRevokedRefusesOtherEvents(t *testing.T) {
	body := []byte(`{"merchant_id":"M1","type":"payment.created","event_id":"e"}`)
	_, err := square.ParseRevoked("k", "https://h/", body, square.Sign("k", "https://h/", body))
	assert.ErrorIs(t, err, square.ErrNotRevocation)

	body = []byte(`{"type":"oauth.authorization.revoked"}`)
	_, err = square.ParseRevoked("k", "https://h/", body, square.Sign("k", "https://h/", body))
	assert.Error(t, err, "a revocation without a merchant names nobody")
}

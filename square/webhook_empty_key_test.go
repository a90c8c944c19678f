package square_test

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ucoauth/go-ucoauth/square"
)

// An empty signature key (an unset environment variable, say) is a key
// anyone can sign with: a webhook checked against it is refused, however
// well "signed", rather than letting anyone revoke any merchant.
func TestRevokedWebhookRefusesAnEmptySignatureKey(t *testing.T) {
	const notify = "https://app.example/square/webhook"
	body := []byte(`{"merchant_id":"MLFORGED1","type":"oauth.authorization.revoked","event_id":"e-forged"}`)
	forged := square.Sign("", notify, body)

	_, err := square.ParseRevoked("", notify, body, forged)
	require.Error(t, err)
	assert.ErrorIs(t, err, square.ErrBadSignature)

	for _, key := range []string{"", "   "} {
		req := httptest.NewRequest("POST", notify, bytes.NewReader(body))
		req.Header.Set(square.HeaderSignature, square.Sign(key, notify, body))
		rev, err := square.VerifyRevokedWebhook(req, key, notify)
		assert.ErrorIs(t, err, square.ErrBadSignature, "key %q", key)
		assert.Nil(t, rev)
	}

	// A real key still works.
	rev, err := square.ParseRevoked("whsec-real-key", notify, body, square.Sign("whsec-real-key", notify, body))
	require.NoError(t, err)
	assert.Equal(t, "MLFORGED1", rev.MerchantID)
}

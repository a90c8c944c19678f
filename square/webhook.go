package square

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Webhook names Square defines.
const (
	// HeaderSignature carries the base64 HMAC-SHA256 of the notification
	// URL followed by the raw body, keyed with the subscription's signature
	// key. (The older x-square-signature, HMAC-SHA1, is not accepted.)
	HeaderSignature = "X-Square-Hmacsha256-Signature"
	// EventAuthorizationRevoked is the event of a merchant (or the
	// application, or Square) revoking all of the application's tokens.
	EventAuthorizationRevoked = "oauth.authorization.revoked"
)

// Webhook errors.
var (
	// ErrBadSignature means the signature header was missing or did not
	// match: the request is not from Square, or the URL or key differ.
	ErrBadSignature = errors.New("square: webhook signature does not match")
	// ErrNotRevocation means a correctly signed event of another type.
	ErrNotRevocation = errors.New("square: webhook is not oauth.authorization.revoked")
)

// maxWebhook bounds a webhook body.
const maxWebhook = 1 << 20

// Revocation is a verified oauth.authorization.revoked event.
type Revocation struct {
	MerchantID string
	EventID    string
	// RevokedAt is when the revocation happened (zero if Square omits it).
	RevokedAt time.Time
	// RevokerType is APPLICATION, MERCHANT or SQUARE.
	RevokerType string
}

// Sign returns the signature Square puts in [HeaderSignature] for body sent
// to notificationURL with the subscription's signature key.
func Sign(signatureKey, notificationURL string, body []byte) string {
	m := hmac.New(sha256.New, []byte(signatureKey))
	m.Write([]byte(notificationURL))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// VerifySignature checks signature against body as received at
// notificationURL, exactly as configured in the subscription (scheme, host,
// path and query byte for byte), in constant time.
//
// An empty (or blank) signature key is refused: anyone can sign with it,
// and a forged revocation would disconnect any merchant.
func VerifySignature(signatureKey, notificationURL string, body []byte, signature string) error {
	if strings.TrimSpace(signatureKey) == "" {
		return fmt.Errorf("%w: the signature key is empty", ErrBadSignature)
	}
	want := Sign(signatureKey, notificationURL, body)
	if signature == "" || !hmac.Equal([]byte(want), []byte(signature)) {
		return ErrBadSignature
	}
	return nil
}

// ParseRevoked verifies a webhook body and, when it is
// oauth.authorization.revoked, returns the merchant it concerns. Another
// event type is [ErrNotRevocation]; nothing is read before the signature
// holds.
func ParseRevoked(signatureKey, notificationURL string, body []byte, signature string) (*Revocation, error) {
	if err := VerifySignature(signatureKey, notificationURL, body, signature); err != nil {
		return nil, err
	}
	var ev struct {
		MerchantID string `json:"merchant_id"`
		Type       string `json:"type"`
		EventID    string `json:"event_id"`
		Data       struct {
			Object struct {
				Revocation struct {
					RevokedAt   string `json:"revoked_at"`
					RevokerType string `json:"revoker_type"`
				} `json:"revocation"`
			} `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("square: webhook body is not an event: %w", err)
	}
	if ev.Type != EventAuthorizationRevoked {
		return nil, fmt.Errorf("%w: %s", ErrNotRevocation, word(ev.Type))
	}
	if ev.MerchantID == "" {
		return nil, fmt.Errorf("square: revocation webhook without merchant_id")
	}
	r := &Revocation{MerchantID: ev.MerchantID, EventID: ev.EventID, RevokerType: ev.Data.Object.Revocation.RevokerType}
	r.RevokedAt, _ = time.Parse(time.RFC3339Nano, ev.Data.Object.Revocation.RevokedAt)
	return r, nil
}

// VerifyRevokedWebhook reads and verifies a webhook request received at
// notificationURL and returns the revoked merchant. [Webhook.Bury] does
// this and buries the merchant in the token store in one call. It reads
// at most 1 MiB of body.
func VerifyRevokedWebhook(r *http.Request, signatureKey, notificationURL string) (*Revocation, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhook+1))
	if err != nil {
		return nil, fmt.Errorf("square: reading webhook: %w", err)
	}
	if len(body) > maxWebhook {
		return nil, fmt.Errorf("square: webhook body over 1 MiB")
	}
	return ParseRevoked(signatureKey, notificationURL, body, r.Header.Get(HeaderSignature))
}

package squaretest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/ucoauth/go-ucoauth/square"
)

// RevokedEvent returns the body of an oauth.authorization.revoked event for
// merchant, as Square sends it. revoker is APPLICATION, MERCHANT or SQUARE.
func (s *Server) RevokedEvent(merchant, revoker string) []byte {
	s.mu.Lock()
	now := rfc3339(s.now())
	s.mu.Unlock()
	b, _ := json.Marshal(map[string]any{
		"merchant_id": merchant,
		"type":        square.EventAuthorizationRevoked,
		"event_id":    newSecret("")[:36],
		"created_at":  now,
		"data": map[string]any{
			"type": "revocation",
			"id":   newSecret("")[:36],
			"object": map[string]any{
				"revocation": map[string]string{"revoked_at": now, "revoker_type": revoker},
			},
		},
	})
	return b
}

// SendRevokedWebhook posts a signed oauth.authorization.revoked event for
// merchant to notificationURL, as Square does when a merchant disconnects
// the application, and returns the status the receiver answered. The
// signature covers notificationURL exactly as given.
func (s *Server) SendRevokedWebhook(ctx context.Context, notificationURL, merchant string) (int, error) {
	body := s.RevokedEvent(merchant, "MERCHANT")
	return PostWebhook(ctx, notificationURL, s.WebhookKey, body)
}

// PostWebhook posts body to notificationURL signed with key, with the
// headers Square sends.
func PostWebhook(ctx context.Context, notificationURL, key string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, notificationURL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("squaretest: webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(square.HeaderSignature, square.Sign(key, notificationURL, body))
	req.Header.Set("Square-Environment", "Sandbox")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	return res.StatusCode, nil
}

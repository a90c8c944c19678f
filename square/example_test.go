package square_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/square/squaretest"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// The authorize link a merchant follows to connect the application: scopes
// space-separated, session=false so the right account logs in, and PKCE for
// a public client.
func ExampleNewConfig() {
	cfg := square.NewConfig("sq0idp-APP", "", "https://app.example/square/callback",
		"MERCHANT_PROFILE_READ", "PAYMENTS_READ")
	cfg.Endpoint = square.SandboxEndpoint
	verifier := oauth2.GenerateVerifier() // keep it with the state until the callback
	link := cfg.AuthCodeURL("state-from-session", square.SessionFalse, oauth2.S256ChallengeOption(verifier))
	fmt.Println(link[:len("https://connect.squareupsandbox.com/oauth2/authorize")])
	// Output: https://connect.squareupsandbox.com/oauth2/authorize
}

// Exchanging a code and refreshing in the code flow, against the fake.
func ExampleClient_Refresh() {
	sq := squaretest.NewServer()
	defer sq.Close()
	ctx := context.Background()
	cfg := sq.Config("MERCHANT_PROFILE_READ")
	code, _ := sq.Authorize(ctx, cfg, "state", "MERCHANT1")

	c := square.NewClient(cfg)
	first, err := c.Exchange(ctx, code, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	next, err := c.Refresh(ctx, first.Token.RefreshToken)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("merchant:", next.MerchantID)
	fmt.Println("same refresh token:", next.Token.RefreshToken == first.Token.RefreshToken)
	// Output:
	// merchant: MERCHANT1
	// same refresh token: true
}

// A health check that costs no refresh, and what a revoked merchant looks like.
func ExampleClient_Status() {
	sq := squaretest.NewServer()
	defer sq.Close()
	ctx := context.Background()
	tok := sq.Issue("MERCHANT1", "ORDERS_READ")
	c := square.NewClient(sq.Config())

	st, _ := c.Status(ctx, tok.AccessToken)
	fmt.Println(st.MerchantID, st.Scopes)

	_ = c.RevokeMerchant(ctx, "MERCHANT1")
	_, err := c.Status(ctx, tok.AccessToken)
	fmt.Println("reconnect:", errors.Is(err, ucoauth.ErrReauthorizationRequired))
	// Output:
	// MERCHANT1 [ORDERS_READ]
	// reconnect: true
}

// A webhook endpoint that learns of a merchant disconnecting the
// application. The URL must be the subscription's, byte for byte.
func ExampleVerifyRevokedWebhook() {
	const key = "the-subscription-signature-key"
	const notificationURL = "https://app.example/square/webhook"
	http.HandleFunc("POST /square/webhook", func(w http.ResponseWriter, r *http.Request) {
		rev, err := square.VerifyRevokedWebhook(r, key, notificationURL)
		if errors.Is(err, square.ErrNotRevocation) {
			return // another event: not this handler's business
		}
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		// Leave a tombstone for rev.MerchantID (Manager.Revoke) so that no
		// process serves its tokens again.
		fmt.Println("revoked:", rev.MerchantID)
	})
}

// Square's advice: refresh at least every 7 days, alert after 8 days
// without a successful refresh.
func ExampleDueForRefresh() {
	last := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	expiry := last.Add(square.AccessTokenLifetime)
	now := last.Add(7 * 24 * time.Hour)
	fmt.Println("due:", square.DueForRefresh(last, expiry, now))
	fmt.Println("stale:", square.IsStale(last, now))
	// Output:
	// due: true
	// stale: false
}

// The webhook endpoint of an application acting for many merchants: one
// call verifies Square's signature and buries the merchant who
// disconnected, so that no process serves or saves its tokens again.
func ExampleWebhook_Bury() {
	sq := squaretest.NewServer()
	defer sq.Close()
	store := tokenstore.NewMemory()
	_ = store.Save(context.Background(), "MERCHANT1", sq.Issue("MERCHANT1"))
	m := ucoauth.NewManager(sq.Config(), store, ucoauth.WithProvider(square.Provider{}))
	defer m.Close()

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	hook := square.Webhook{SignatureKey: sq.WebhookKey, NotificationURL: srv.URL + "/square/webhook"}
	mux.HandleFunc("POST /square/webhook", func(w http.ResponseWriter, r *http.Request) {
		rev, err := hook.Bury(r.Context(), r, store, m)
		switch {
		case err == nil:
			fmt.Println("buried", rev.MerchantID)
		case errors.Is(err, square.ErrBadSignature):
			w.WriteHeader(http.StatusUnauthorized)
		case errors.Is(err, square.ErrReconnectedSince), errors.Is(err, square.ErrNotRevocation):
			// Done: nothing to bury.
		default:
			w.WriteHeader(http.StatusInternalServerError) // Square retries
		}
	})

	_, _ = sq.SendRevokedWebhook(context.Background(), hook.NotificationURL, "MERCHANT1")
	_, err := store.Load(context.Background(), "MERCHANT1")
	fmt.Println(errors.Is(err, ucoauth.ErrRevoked))
	// Output:
	// buried MERCHANT1
	// true
}

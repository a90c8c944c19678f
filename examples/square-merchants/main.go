// Command square-merchants is a service acting for several Square sellers
// with go-ucoauth: it connects them, calls Square's API for each through
// one ucoauth.Manager over a Redis store, refreshes every token by age (at
// least every 7 days, as Square advises), buries a seller who disconnects
// (the oauth.authorization.revoked webhook), and reports a seller whose
// refreshes have been failing for 8 days.
//
//	go run ./examples/square-merchants
//
// Without SQUARE_APPLICATION_ID it runs against an embedded fake Square
// (squaretest) on a clock it moves forward, so that weeks pass in a second.
// With SQUARE_APPLICATION_ID, SQUARE_APPLICATION_SECRET and
// SQUARE_REDIRECT_URL it uses Square's sandbox (SQUARE_ENVIRONMENT=production
// for production): it prints the authorize link, reads the code you were
// redirected with from stdin, calls the API and asks Square for the token's
// status. Tokens are kept in the Redis at REDIS_URL (redis://host:port/db),
// where every process of a fleet finds them and refreshes each once, or
// without it in an embedded miniredis that dies with the program. They are
// live credentials: in production, wrap the store in tokenstore.Seal. A SQL
// store (tokenstore/sqlstore) is used the same way.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ucoauth/go-ucoauth/square"
	"github.com/ucoauth/go-ucoauth/square/squaretest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

func main() {
	log.SetFlags(0)
	if err := run(context.Background(), os.Stdout, os.Stdin); err != nil {
		log.Fatalf("square-merchants: %v", err)
	}
}

func run(ctx context.Context, out io.Writer, in io.Reader) error {
	store, where, closeStore, err := openStore()
	if err != nil {
		return err
	}
	defer closeStore()
	if id := os.Getenv("SQUARE_APPLICATION_ID"); id != "" {
		return runReal(ctx, out, in, id, store, where)
	}
	return runFake(ctx, out, store)
}

// runFake runs the whole life of three sellers against the fake Square.
func runFake(ctx context.Context, out io.Writer, store ucoauth.TokenStore) error {
	sq := squaretest.NewServer()
	defer sq.Close()
	var skew atomic.Int64 // weeks pass in a second, for the fake and the engine alike
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	sq.SetClock(clock)
	cfg := sq.Config("MERCHANT_PROFILE_READ", "PAYMENTS_READ")
	provider := ucoauth.WithProvider(square.Provider{})
	m := ucoauth.NewManager(cfg, store, provider, ucoauth.WithClock(clock))
	defer m.Close()
	sellers := []string{"ML-BAKERY", "ML-BIKES", "ML-BOOKS"}

	// 1. Connect: the code flow, then the token is saved under the seller's
	// ID, which comes from the grant (merchant_id), never from the request.
	for _, s := range sellers {
		code, err := sq.Authorize(ctx, cfg, "state", s)
		if err != nil {
			return err
		}
		tok, err := ucoauth.Exchange(ctx, cfg, code, provider, ucoauth.WithClock(clock))
		if err != nil {
			return fmt.Errorf("exchange: %w", err)
		}
		id, _ := tok.Extra(square.ExtraMerchantID).(string)
		if err := m.Save(ctx, id, tok); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "1. connected %d sellers: %s\n", len(sellers), strings.Join(sellers, " "))

	// 2. API calls, with Square-Version added by the Transport.
	for _, s := range sellers {
		if err := call(ctx, m, s, sq.URL); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "2. API calls for every seller: 200 OK\n")

	// 3. Is the seller still connected? Token status costs no refresh.
	tok, err := m.Source(sellers[0]).TokenContext(ctx)
	if err != nil {
		return err
	}
	st, err := sq.Client(cfg).Status(ctx, tok.AccessToken)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "3. token status of %s: connected, expires in %d days\n", st.MerchantID, days(st.ExpiresAt.Sub(clock())))

	// 4. Seven days later: every token is refreshed by age, 23 days before
	// it expires, once.
	skew.Add(int64(7*24*time.Hour + time.Hour))
	before := sq.Stats().Refreshes()
	for _, s := range sellers {
		if err := refreshed(ctx, m, s); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "4. 7 days later: %d refreshes by age\n", sq.Stats().Refreshes()-before)

	// 5. A seller disconnects the app in Square's dashboard; the signed
	// webhook buries it.
	hook, outcome := webhook(sq.WebhookKey, store, m)
	defer hook.Close()
	sq.DisconnectMerchant(sellers[1])
	if _, err := sq.SendRevokedWebhook(ctx, hook.URL+"/square/webhook", sellers[1]); err != nil {
		return err
	}
	if err := <-outcome; err != nil {
		return err
	}
	_, err = m.Source(sellers[1]).TokenContext(ctx)
	fmt.Fprintf(out, "5. webhook: %s disconnected, must connect again: %t\n", sellers[1], errors.Is(err, ucoauth.ErrReauthorizationRequired))

	// 6. Square is down for 8 days: tokens are still served (they live 30
	// days), and health reports the sellers whose refreshes keep failing.
	sq.FailNext(-1, squaretest.Unavailable()) // the token endpoint only
	skew.Add(int64(8*24*time.Hour + time.Hour))
	var overdue []string
	for _, s := range []string{sellers[0], sellers[2]} {
		if err := call(ctx, m, s, sq.URL); err != nil {
			return err
		}
		if waitFor(func() bool { return m.Status(s).Failures > 0 }) && m.Status(s).Overdue {
			overdue = append(overdue, s)
		}
	}
	sq.ClearFailures()
	fmt.Fprintf(out, "6. 8 days of failed refreshes: overdue %s\n", strings.Join(overdue, " "))
	return nil
}

// call calls Square's API for seller through the Manager's client.
func call(ctx context.Context, m *ucoauth.Manager, seller, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v2/merchants/me", nil)
	if err != nil {
		return err
	}
	res, err := m.Client(ctx, seller).Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("API call for %s: %s", seller, res.Status)
	}
	return nil
}

// refreshed serves seller's stale token, which starts its refresh, and
// waits for the refresh to land.
func refreshed(ctx context.Context, m *ucoauth.Manager, seller string) error {
	before := m.Status(seller).Refreshed
	if _, err := m.Source(seller).TokenContext(ctx); err != nil {
		return err
	}
	if !waitFor(func() bool { return m.Status(seller).Refreshed.After(before) }) {
		return fmt.Errorf("%s was not refreshed: %v", seller, m.Status(seller).Err)
	}
	return nil
}

// waitFor polls cond for up to 5 s.
func waitFor(cond func() bool) bool {
	for range 500 {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// webhook is the app's endpoint for Square's webhooks: it buries the
// seller named in oauth.authorization.revoked, in one call.
func webhook(key string, store ucoauth.TokenStore, m *ucoauth.Manager) (*httptest.Server, chan error) {
	outcome := make(chan error, 1)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	wh := square.Webhook{SignatureKey: key, NotificationURL: srv.URL + "/square/webhook"}
	mux.HandleFunc("POST /square/webhook", func(w http.ResponseWriter, r *http.Request) {
		_, err := wh.Bury(r.Context(), r, store, m)
		switch {
		case errors.Is(err, square.ErrBadSignature):
			w.WriteHeader(http.StatusUnauthorized)
		case err != nil && !errors.Is(err, square.ErrReconnectedSince) && !errors.Is(err, square.ErrNotRevocation):
			w.WriteHeader(http.StatusInternalServerError) // Square retries
		default:
			err = nil
		}
		select {
		case outcome <- err:
		default:
		}
	})
	return srv, outcome
}

func days(d time.Duration) int { return int((d + 12*time.Hour) / (24 * time.Hour)) }

// runReal connects one seller at Square (the sandbox unless
// SQUARE_ENVIRONMENT=production), calls the API and checks the token's
// status.
func runReal(ctx context.Context, out io.Writer, in io.Reader, id string, store ucoauth.TokenStore, where string) error {
	cfg := square.NewConfig(id, os.Getenv("SQUARE_APPLICATION_SECRET"), os.Getenv("SQUARE_REDIRECT_URL"),
		"MERCHANT_PROFILE_READ")
	base := square.SandboxURL
	cfg.Endpoint = square.SandboxEndpoint
	if os.Getenv("SQUARE_ENVIRONMENT") == "production" {
		cfg.Endpoint, base = square.Endpoint, square.ProductionURL
	}
	provider := ucoauth.WithProvider(square.Provider{})
	m := ucoauth.NewManager(cfg, store, provider)
	defer m.Close()
	fmt.Fprintf(out, "1. authorize URL: %s\n", cfg.AuthCodeURL(state(), square.SessionFalse))
	fmt.Fprint(out, "   paste the code from the redirect: ")
	var code string
	if _, err := fmt.Fscanln(in, &code); err != nil {
		return fmt.Errorf("reading the code: %w", err)
	}
	tok, err := ucoauth.Exchange(ctx, cfg, strings.TrimSpace(code), provider)
	if err != nil {
		return fmt.Errorf("exchange: %w", err)
	}
	seller, _ := tok.Extra(square.ExtraMerchantID).(string)
	if err := m.Save(ctx, seller, tok); err != nil {
		return err
	}
	fmt.Fprintf(out, "2. connected %s; tokens saved in the %s\n", seller, where)
	if err := call(ctx, m, seller, base); err != nil {
		return err
	}
	fmt.Fprintln(out, "3. API call: 200 OK")
	st, err := square.NewClient(cfg).Status(ctx, tok.AccessToken)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "4. token status: scopes %s, expires in %d days\n", strings.Join(slices.Sorted(slices.Values(st.Scopes)), " "), days(time.Until(st.ExpiresAt)))
	return nil
}

// state is a random state for the authorize link.
func state() string { return oauth2.GenerateVerifier()[:24] }

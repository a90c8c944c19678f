package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

const fakeHelp = `Serves the fake UltraCart of package ucoauthtest as a standalone server:
authorize (approves at once and redirects back), token, revoke, the device
flow (approved on the second poll) and the API (any path under /rest/v2/
answers {"success": true, "merchant_id": ...} for a valid token and the
X-UltraCart-Api-Version header). GET / answers 200, so scripts can wait for
it. The first line on stdout is the server's root URL. Each request is logged
on stderr as method, path and status: never a query string or a body.

Without -client-id and -client-secret (or their environment variables) the
registered application is ucoauthtest-client with secret ucoauthtest-secret.
A client may omit the secret, as UltraCart's SDKs do; a wrong one is refused.
Tokens live in memory and die with the server. Request bodies and headers
over 64 KiB are refused. Runs until SIGINT or SIGTERM.
Go programs using go-ucoauth reach a plain-http fake on loopback only.
`

func runFake(e *env, args []string) error {
	fs := newFlagSet(e, "fake", "[flags]", fakeHelp)
	var s settings
	addr := fs.String("addr", "127.0.0.1:8080", "listen address; port 0 picks a free one")
	lifetime := fs.Duration("lifetime", ucoauthtest.DefaultLifetime, "lifetime of the tokens it issues")
	latency := fs.Duration("latency", 0, "delay every answer of the OAuth endpoints by this long, to try timeouts")
	rotate := fs.Bool("rotate", true, "rotate refresh tokens: each refresh returns a new one and the old one dies (-rotate=false keeps them)")
	s.clientFlags(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("fake takes no arguments, got %q", fs.Arg(0))
	}
	if *latency < 0 {
		return usageErrorf("-latency must not be negative")
	}
	if *lifetime < time.Second {
		return usageErrorf("-lifetime must be at least 1s, got %s", *lifetime)
	}
	s.resolve(e.getenv)
	if s.clientID == "" {
		s.clientID = ucoauthtest.DefaultClientID
	}
	if !fs.set("client-secret") && e.getenv(envClientSecret) == "" {
		s.clientSecret = ucoauthtest.DefaultClientSecret
	}

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	root := rootURL(l.Addr().(*net.TCPAddr))
	fake := ucoauthtest.NewStandalone(root)
	fake.ClientID, fake.ClientSecret = s.clientID, s.clientSecret
	fake.SetLifetime(*lifetime)
	fake.SetRotation(*rotate)
	fake.SetLatency(*latency)

	logger := log.New(e.stderr, "ucoauth fake: ", log.LstdFlags)
	srv := &http.Server{
		Handler:           logRequests(logger, limitBodies(fake.Handler())),
		ReadHeaderTimeout: 10 * time.Second,
		// A long-lived fake must not be held up or filled up by one client:
		// bodies have a minute to arrive, headers and forms are small.
		ReadTimeout:    time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       logger,
	}
	fmt.Fprintln(e.stdout, root)
	logger.Printf("serving at %s (base URL %s, client ID %s, token lifetime %s, rotation %t)",
		root, fake.BaseURL(), s.clientID, *lifetime, *rotate)
	if ip := l.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		logger.Printf("warning: listening beyond loopback; anyone who can reach %s gets tokens from this fake", l.Addr())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	logger.Printf("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	logger.Printf("stopped")
	return nil
}

// rootURL is the URL clients reach a listener at: an unspecified address
// (0.0.0.0, ::) is reached on loopback from this host.
func rootURL(a *net.TCPAddr) string {
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// Request bounds of the fake: UltraCart's forms and headers are a few
// hundred bytes; the defaults (10 MB forms, 1 MB headers) would let one
// client make the fake keep megabytes per request.
const (
	maxBodyBytes   = 64 << 10
	maxHeaderBytes = 64 << 10
)

// limitBodies refuses a request body beyond maxBodyBytes: its form does not
// parse (400 invalid_request).
func limitBodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		h.ServeHTTP(w, r)
	})
}

// logRequests logs method, path and status of every request. Not the query
// string: authorization codes, states and tokens travel there.
func logRequests(l *log.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		l.Printf("%s %s %d %s", r.Method, strconv.Quote(r.URL.Path), sw.status, time.Since(start).Round(time.Microsecond))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Package redistest starts a Redis server for tests and benchmarks: a real
// redis-server on a free loopback port when one is on PATH, otherwise an
// in-process miniredis, so that everything runs on a fresh machine. Set
// UCOAUTH_REQUIRE_REDIS_SERVER=1 (CI does) to fail instead of falling back,
// or UCOAUTH_FORCE_MINIREDIS=1 to use the fallback on a machine that has
// redis-server.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Server is a running Redis that can be killed and restarted.
type Server struct {
	// Addr is host:port.
	Addr string
	// Real reports whether this is a redis-server process.
	Real bool

	mu   sync.Mutex
	path string
	cmd  *exec.Cmd
	mini *miniredis.Miniredis
}

// New starts a server; Close stops it.
// startWait bounds how long a started redis-server may take to answer: on
// a loaded 2-core machine (CI, or several test binaries at once) a cluster
// node has taken over 10 s.
const startWait = 60 * time.Second

func New() (*Server, error) {
	s := &Server{}
	if path, err := exec.LookPath("redis-server"); err == nil && os.Getenv("UCOAUTH_FORCE_MINIREDIS") == "" {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		s.Addr, s.Real, s.path = addr, true, path
		return s, s.startReal()
	}
	if os.Getenv("UCOAUTH_REQUIRE_REDIS_SERVER") != "" {
		return nil, errors.New("redistest: UCOAUTH_REQUIRE_REDIS_SERVER is set but redis-server is not on PATH")
	}
	s.mini = miniredis.NewMiniRedis()
	if err := s.mini.Start(); err != nil {
		return nil, fmt.Errorf("redistest: starting miniredis: %w", err)
	}
	s.Addr = s.mini.Addr()
	return s, nil
}

// Start starts a server that stops when the test ends, and logs which kind
// it is.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := New()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("redistest: using %s", s)
	tb.Cleanup(s.Close)
	return s
}

// Client returns a new client for the server.
func (s *Server) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("redistest: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (s *Server) startReal() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	// No persistence: a restart loses everything, the harshest case.
	cmd := exec.Command(s.path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: starting redis-server: %w", err)
	}
	s.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(startWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("redistest: redis-server on %s did not answer", s.Addr)
}

// Kill stops the server abruptly (SIGKILL for a real one). A real server
// loses its data; miniredis keeps it.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
	if s.mini != nil {
		s.mini.Close()
	}
}

// Close stops the server.
func (s *Server) Close() { s.Kill() }

// Restart starts the server again on the same address.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Real {
		return s.startReal()
	}
	return s.mini.Restart()
}

// FastForward moves miniredis's clock, for TTL tests; a real server's clock
// cannot be moved, so it is a no-op there.
func (s *Server) FastForward(d time.Duration) {
	if s.mini != nil {
		s.mini.FastForward(d)
	}
}

// String says which kind of server this is and where.
func (s *Server) String() string {
	if s.Real {
		return "redis-server " + s.path + " at " + s.Addr
	}
	return "in-process miniredis at " + s.Addr + " (no redis-server on PATH)"
}

// TestClient returns a client that is closed when the test ends.
func (s *Server) TestClient(tb testing.TB) *redis.Client {
	c := s.Client()
	tb.Cleanup(func() { c.Close() })
	return c
}

// QuietLogs drops go-redis's internal log lines ("redis: ... dial tcp ...:
// connection refused", "sentinel: new master ...") for the rest of the
// process. Tests that kill, restart or fail over servers on purpose
// produce dozens of them, which bury real failures. It is for tests (call it
// from TestMain): a program keeps go-redis's logger.
func QuietLogs() { redis.SetLogger(quietLogger{}) }

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

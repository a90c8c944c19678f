// Package redistest starts a Redis server for tests: a real redis-server on
// a free loopback port when one is on PATH, otherwise an in-process
// miniredis, so that the tests pass on a fresh machine. Set
// UCOAUTH_REQUIRE_REDIS_SERVER=1 (CI does) to fail instead of falling back,
// or UCOAUTH_FORCE_MINIREDIS=1 to test the fallback on a machine that has
// redis-server.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Server is a running Redis that a test can kill and restart.
type Server struct {
	// Addr is host:port.
	Addr string
	// Real reports whether this is a redis-server process.
	Real bool

	tb   testing.TB
	mu   sync.Mutex
	cmd  *exec.Cmd
	mini *miniredis.Miniredis
}

// Start starts a server that stops when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{tb: tb}
	if path, err := exec.LookPath("redis-server"); err == nil && os.Getenv("UCOAUTH_FORCE_MINIREDIS") == "" {
		s.Addr, s.Real = freeAddr(tb), true
		s.startReal(path)
		tb.Logf("redistest: using a real redis-server (%s) at %s", path, s.Addr)
	} else {
		if os.Getenv("UCOAUTH_REQUIRE_REDIS_SERVER") != "" {
			tb.Fatalf("redistest: UCOAUTH_REQUIRE_REDIS_SERVER is set but redis-server is not on PATH")
		}
		s.mini = miniredis.NewMiniRedis()
		if err := s.mini.Start(); err != nil {
			tb.Fatalf("redistest: starting miniredis: %v", err)
		}
		s.Addr = s.mini.Addr()
		tb.Logf("redistest: no redis-server to use; using in-process miniredis at %s", s.Addr)
	}
	tb.Cleanup(s.Kill)
	return s
}

// Client returns a client for the server, closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
	s.tb.Cleanup(func() { c.Close() })
	return c
}

func freeAddr(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (s *Server) startReal(path string) {
	_, port, _ := net.SplitHostPort(s.Addr)
	// No persistence: a restart loses everything, the harshest case.
	cmd := exec.Command(path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("redistest: starting redis-server: %v", err)
	}
	s.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.tb.Fatalf("redistest: redis-server on %s did not answer", s.Addr)
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

// Restart starts the server again on the same address.
func (s *Server) Restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Real {
		path, _ := exec.LookPath("redis-server")
		s.startReal(path)
		return
	}
	if err := s.mini.Restart(); err != nil {
		s.tb.Fatalf("redistest: restarting miniredis: %v", err)
	}
}

// String describes the server for logs.
func (s *Server) String() string {
	kind := "miniredis"
	if s.Real {
		kind = "redis-server"
	}
	return kind + "@" + s.Addr + " (real=" + strconv.FormatBool(s.Real) + ")"
}

var _ fmt.Stringer = (*Server)(nil)

// FastForward moves miniredis's clock, for TTL tests; a real server's clock
// cannot be moved, so it is a no-op there.
func (s *Server) FastForward(d time.Duration) {
	if s.mini != nil {
		s.mini.FastForward(d)
	}
}

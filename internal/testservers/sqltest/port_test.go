package sqltest

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// takenPort makes the next start pick the port another server listens on,
// as when another program binds a port between freePort and our server.
func takenPort(t *testing.T, other *Server) {
	_, p, err := net.SplitHostPort(other.Addr)
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)
	calls := 0
	pickPort = func() (int, error) {
		calls++
		if calls == 1 {
			return port, nil
		}
		return freePort()
	}
	t.Cleanup(func() { pickPort = freePort })
}

func testPortTaken(t *testing.T, start func() (*Server, error)) {
	other, err := start()
	if err != nil {
		Unavailable(t, err)
	}
	defer other.Close()
	takenPort(t, other)
	s, err := start()
	require.NoError(t, err, "a second attempt on a free port")
	defer s.Close()
	assert.NotEqual(t, other.Addr, s.Addr, "the tests never run on a server they do not own")
	assert.NotEqual(t, other.dir, s.dir)
}

func TestPostgresPortTakenByAnotherServer(t *testing.T) { testPortTaken(t, StartPostgres) }

func TestMariaDBPortTakenByAnotherServer(t *testing.T) { testPortTaken(t, StartMariaDB) }

package ucoauth_test

// An invalid_client answer (the application's credentials, not the grant)
// keeps the refresh token and is logged once per backoff step.

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// logBuffer is a JSON slog logger into a buffer, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(&lockedWriter{w: &l.buf, mu: &l.mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *logBuffer) count(level, msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if strings.Contains(line, `"level":"`+level+`"`) && strings.Contains(line, msg) {
			n++
		}
	}
	return n
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

// TestInvalidClientKeepsTheRefreshTokenAndLogsOncePerStep: the application's
// credentials are refused. That is not the merchant's dead grant: it backs
// off like a temporary failure, is logged at error level once per backoff
// step (not per call), and once the configuration is fixed the same refresh
// token works.
func TestInvalidClientKeepsTheRefreshTokenAndLogsOncePerStep(t *testing.T) {
	f := newFixture(t, time.Hour)
	var logs logBuffer
	src := f.source(ucoauth.WithLogger(logs.logger()), ucoauth.WithBackoff(time.Second, time.Minute))
	defer src.Close()
	f.srv.FailNext(-1, ucoauthtest.Failure{Status: 401, Body: `{"error":"invalid_client","error_description":"bad secret"}`})
	f.clock.Advance(2 * time.Hour)
	for range 300 { // 30 simulated seconds
		_, err := src.Token()
		require.ErrorIs(t, err, ucoauth.ErrInvalidClient)
		require.NotErrorIs(t, err, ucoauth.ErrReauthorizationRequired, "the merchant need not reconnect")
		f.clock.Advance(100 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return logs.count("ERROR", "client credentials") == f.srv.Stats().Refreshes() }, 5*time.Second, 10*time.Millisecond)
	refreshes := f.srv.Stats().Refreshes()
	assert.GreaterOrEqual(t, refreshes, 2, "retried")
	assert.LessOrEqual(t, refreshes, 7, "backed off: 1 s, 2 s, 4 s, 8 s ...")
	assert.Equal(t, refreshes, logs.count("ERROR", "client credentials"), "logged once per backoff step, at error level")
	st := src.Status()
	assert.Equal(t, ucoauth.StateInvalidClient, st.State)
	assert.False(t, st.NextAttempt.IsZero())

	f.srv.ClearFailures() // the configuration is fixed
	f.clock.Advance(2 * time.Minute)
	tok, err := src.Token()
	require.NoError(t, err, "the kept refresh token works")
	assert.NotEqual(t, f.tok.AccessToken, tok.AccessToken)
	assert.Zero(t, f.srv.Stats().InvalidGrant)
}

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The whole life of three sellers against the embedded fake Square:
// connect, API calls, token status, refresh by age, a disconnect buried by
// the webhook, and the overdue report while Square is down.
func TestSquareMerchantsRunsEndToEnd(t *testing.T) {
	t.Setenv("SQUARE_APPLICATION_ID", "") // always the embedded fake here
	t.Setenv("SQUARE_TOKEN_DIR", t.TempDir())
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, strings.NewReader("")), out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 6, out.String())
	for i, want := range []string{
		"1. connected 3 sellers: ML-BAKERY ML-BIKES ML-BOOKS",
		"2. API calls for every seller: 200 OK",
		"3. token status of ML-BAKERY: connected, expires in 30 days",
		"4. 7 days later: 3 refreshes by age",
		"5. webhook: ML-BIKES disconnected, must connect again: true",
		"6. 8 days of failed refreshes: overdue ML-BAKERY ML-BOOKS",
	} {
		assert.Equal(t, want, lines[i])
	}
}

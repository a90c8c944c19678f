package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuickstartRunsEndToEnd(t *testing.T) {
	t.Setenv("ULTRACART_CLIENT_ID", "") // always the embedded fake server here
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, strings.NewReader("")))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 10, out.String())
	for i, want := range []string{"authorize URL: http", "exchanged the code", "saved to a file store", "API call through ucoauth.NewClient: 200 OK",
		"has expired", "refresh token rotated: true", "second API call: 200 OK", "a tombstone replaces the token in the store: true", "revoked token gets 401"} {
		assert.Contains(t, lines[i+1], want)
	}
}

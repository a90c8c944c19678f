package redact_test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ucoauth/go-ucoauth/internal/redact"
)

// Ported from ucoauth (TestSecretRedacts) when Secret left its API.
func TestSecretRedacts(t *testing.T) {
	s := redact.Secret("hunter2")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "s", s)
	out := fmt.Sprintf("%v %+v %#v %s %q %x %d", s, s, s, s, s, s, s) + buf.String()
	assert.NotContains(t, out, "hunter2")
	assert.NotContains(t, out, fmt.Sprintf("%x", "hunter2"))
	assert.Equal(t, "hunter2", s.Reveal())
	b, err := s.MarshalJSON()
	require.NoError(t, err)
	assert.Equal(t, `"[REDACTED]"`, string(b))
	assert.NotEqual(t, redact.Fingerprint("a"), redact.Fingerprint("b"))
}

// A Secret in a struct that is written as XML (or by any other encoder that
// uses encoding.TextMarshaler) printed its value. Ported from ucoauth.
func TestSecretHidesFromTextEncoders(t *testing.T) {
	type config struct {
		ClientSecret redact.Secret `xml:"client_secret"`
		Attr         redact.Secret `xml:"key,attr"`
	}
	b, err := xml.Marshal(config{ClientSecret: "hunter2-xml", Attr: "hunter2-attr"})
	require.NoError(t, err)
	assert.NotContains(t, string(b), "hunter2")
	assert.Contains(t, string(b), redact.Placeholder)
}

func ExampleSecret() {
	s := redact.Secret("rt-very-secret")
	fmt.Println(s, fmt.Sprintf("%#v", s))
	// Output: [REDACTED] [REDACTED]
}

package tokenstore_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"golang.org/x/oauth2"
)

// TestMemoryStorePrintsNoToken: printing the Memory store (a debug log of
// the store, every fmt verb, slog text and JSON) reveals no stored token, raw or as the
// decimal bytes %v prints of a []byte.
func TestMemoryStorePrintsNoToken(t *testing.T) {
	m := tokenstore.NewMemory()
	require.NoError(t, m.Save(context.Background(), "merchant", &oauth2.Token{
		AccessToken: "ACCESS-SECRET-0123456789", RefreshToken: "REFRESH-SECRET-0123456789",
		Expiry: time.Now().Add(time.Hour)}))
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("store", "store", m)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("store", "store", m, "value", *m)
	verbS, verbV, verbPlusV, verbGo := "%s", "%v", "%+v", "%#v" // variables: vet refuses %s of a struct pointer
	outs := map[string]string{
		"%s":        fmt.Sprintf(verbS, m),
		"%v":        fmt.Sprintf(verbV, m),
		"%+v":       fmt.Sprintf(verbPlusV, m),
		"%#v":       fmt.Sprintf(verbGo, m),
		"%v value":  fmt.Sprintf(verbV, *m),
		"slog text": text.String(),
		"slog json": js.String(),
	}
	assert.Equal(t, "tokenstore.Memory(1 keys)", outs["%v"])
	// Decimal bytes of the refresh token, as %v prints a []byte.
	dec := fmt.Sprint([]byte("REFRESH-SECRET-0123456789"))
	dec = dec[1 : len(dec)-1]
	for verb, out := range outs {
		assert.NotContains(t, out, "REFRESH-SECRET-0123456789", "%s reveals the refresh token", verb)
		assert.NotContains(t, out, dec, "%s reveals the refresh token as decimal bytes", verb)
	}
}

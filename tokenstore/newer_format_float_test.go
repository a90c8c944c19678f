package tokenstore_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"golang.org/x/oauth2"
)

// TestNewerFormatVersionSpelledAsFloatIsKept: a record of format version 2
// whose writer spelled the number 2.0 or 2e0 (JavaScript and Python tools
// sharing the documented record may) is a newer record, not a corrupt one:
// Save never overwrites it and the refresh token it holds.
func TestNewerFormatVersionSpelledAsFloatIsKept(t *testing.T) {
	for _, v := range []string{"2.0", "2e0", "1e99"} {
		t.Run(v, func(t *testing.T) {
			f, err := tokenstore.NewFile(t.TempDir())
			require.NoError(t, err)
			rec := `{"version":` + v + `,"key":"m","access_token":"AT-newer","refresh_token":"RT-only-live-one","expiry":"2000-01-01T00:00:00Z"}`
			require.NoError(t, os.WriteFile(tokenstore.FilePath(f, "m"), []byte(rec), 0o600))
			err = f.Save(context.Background(), "m", &oauth2.Token{AccessToken: "AT-old-build", Expiry: time.Now().Add(time.Hour)})
			got, _ := os.ReadFile(tokenstore.FilePath(f, "m"))
			assert.ErrorIs(t, err, tokenstore.ErrNewerFormat, "a version-%s record must not be overwritten", v)
			assert.Equal(t, rec, string(got), "the newer record (and its refresh token) was overwritten")
		})
	}
}

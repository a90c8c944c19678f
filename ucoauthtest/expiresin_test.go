package ucoauthtest_test

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// TestSetExpiresInWritesTheRawValue: SetExpiresIn writes its JSON as the
// token answer's expires_in, %d standing for the lifetime in seconds, and
// "" leaves the field out.
func TestSetExpiresInWritesTheRawValue(t *testing.T) {
	s := ucoauthtest.NewServer()
	defer s.Close()
	for _, tc := range []struct {
		raw     string
		want    any
		present bool
	}{
		{`"%d"`, "3600", true},
		{`%d`, float64(3600), true},
		{`" %d "`, " 3600 ", true},
		{`"%d.0"`, "3600.0", true},
		{`null`, nil, true},
		{`"abc"`, "abc", true},
		{``, nil, false},
	} {
		s.SetExpiresIn(tc.raw)
		code, err := s.Authorize(t.Context(), s.Config(), "st", "")
		require.NoError(t, err)
		resp, body := post(t, s.BaseURL()+"/oauth/token", url.Values{"client_id": {s.ClientID}, "grant_type": {"authorization_code"},
			"code": {code}, "redirect_uri": {s.RedirectURL}})
		require.Equal(t, 200, resp.StatusCode)
		got, present := body["expires_in"]
		assert.Equal(t, tc.present, present, "%s: expires_in present", tc.raw)
		assert.Equal(t, tc.want, got, "%s", tc.raw)
	}
}

// TestSetExpiresInRefusesWhatIsNotJSON: a value that is not JSON would
// make every token answer unreadable; it is the test's mistake, said at once.
func TestSetExpiresInRefusesWhatIsNotJSON(t *testing.T) {
	s := ucoauthtest.NewServer()
	defer s.Close()
	assert.PanicsWithValue(t, `ucoauthtest: SetExpiresIn("abc"): not JSON`, func() { s.SetExpiresIn("abc") })
	assert.PanicsWithValue(t, `ucoauthtest: SetExpiresIn("%d\""): not JSON`, func() { s.SetExpiresIn(`%d"`) })
}

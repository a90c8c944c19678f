package ucoauth_test

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ucoauth/go-ucoauth/internal/ultracart"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

func TestRevokeTellsTheTruth(t *testing.T) {
	cases := []struct {
		name    string
		answer  *ucoauthtest.Failure // nil: the fake's own answer
		rfc7009 bool
		wantErr bool // Revoke fails and the token stays in the store
	}{
		{name: `UltraCart {"successful": true}`},
		{name: "RFC 7009 empty 200", rfc7009: true},
		{name: "200 {}", answer: &ucoauthtest.Failure{Status: 200, Body: `{}`}},
		{name: "200 not JSON", answer: &ucoauthtest.Failure{Status: 200, Body: `ok`}},
		{name: "204", answer: &ucoauthtest.Failure{Status: 204}},
		{name: "401 invalid_token: already gone", answer: &ucoauthtest.Failure{Status: 401, Body: ucoauthtest.ErrorResponse("Invalid token.", "invalid_token")}},
		{name: "400 invalid_grant: already gone", answer: &ucoauthtest.Failure{Status: 400, Body: `{"error":"invalid_grant"}`}},
		{name: "400 invalid_token: already gone", answer: &ucoauthtest.Failure{Status: 400, Body: `{"error":"invalid_token"}`}},
		{name: `{"successful": false}`, answer: &ucoauthtest.Failure{Status: 200, Body: `{"successful": false, "message": "nope"}`}, wantErr: true},
		{name: `{"successful": "false"}`, answer: &ucoauthtest.Failure{Status: 200, Body: `{"successful": "false"}`}, wantErr: true},
		{name: "200 with an error", answer: &ucoauthtest.Failure{Status: 200, Body: `{"error":"server_error"}`}, wantErr: true},
		// A body that says "not revoked" but does not parse cleanly still
		// says so: a stray field of the wrong shape, trailing bytes or a
		// duplicated key never turn a refusal into RFC 7009's "any 2xx".
		{name: `{"successful": false} with a message of the wrong shape`, answer: &ucoauthtest.Failure{Status: 200, Body: `{"successful": false, "message": ["nope"]}`}, wantErr: true},
		{name: `{"successful": false} with trailing bytes`, answer: &ucoauthtest.Failure{Status: 200, Body: `{"successful": false} x`}, wantErr: true},
		{name: `"successful" false then true`, answer: &ucoauthtest.Failure{Status: 200, Body: `{"successful": false, "successful": true}`}, wantErr: true},
		{name: `"successful" of the wrong shape`, answer: &ucoauthtest.Failure{Status: 200, Body: `{"successful": [true]}`}, wantErr: true},
		{name: "200 with an error and a field of the wrong shape", answer: &ucoauthtest.Failure{Status: 200, Body: `{"error":"server_error","access_token":{}}`}, wantErr: true},
		{name: `{"successful": true} with trailing bytes`, answer: &ucoauthtest.Failure{Status: 200, Body: `{"successful": true} x`}},
		{name: "200 with a null error and a field of the wrong shape", answer: &ucoauthtest.Failure{Status: 200, Body: `{"error":null,"message":{}}`}},
		{name: "404 wrong URL", answer: &ucoauthtest.Failure{Status: 404, Body: `404 page not found`}, wantErr: true},
		{name: "405", answer: &ucoauthtest.Failure{Status: 405}, wantErr: true},
		{name: "401 without a code", answer: &ucoauthtest.Failure{Status: 401}, wantErr: true},
		{name: "401 invalid_client", answer: &ucoauthtest.Failure{Status: 401, Body: `{"error":"invalid_client"}`}, wantErr: true},
		{name: "410 application disabled", answer: &ucoauthtest.Failure{Status: 410, Body: ucoauthtest.ErrorResponse("application disabled", "disabled")}, wantErr: true},
		{name: "500", answer: &ucoauthtest.Failure{Status: 500}, wantErr: true},
		{name: "429", answer: &ucoauthtest.Failure{Status: 429, Header: http.Header{"Retry-After": {"5"}}}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			uc := ucoauthtest.NewServer()
			defer uc.Close()
			if tc.rfc7009 {
				uc.SetRevokeAnswer(ucoauthtest.RevokeRFC7009)
			}
			if tc.answer != nil {
				f := *tc.answer
				f.Path = "/oauth/revoke"
				uc.FailNext(1, f)
			}
			store := tokenstore.NewMemory()
			tok := uc.Issue("M")
			require.NoError(t, store.Save(t.Context(), "m", tok))
			src := ucoauth.NewTokenSource(uc.Config(), store, "m")
			err := src.Revoke(t.Context())
			_, loadErr := store.Load(t.Context(), "m")
			if tc.wantErr {
				require.Error(t, err)
				var e *ucoauth.Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, "revoke", e.Op)
				assert.NoError(t, loadErr, "the token stays, so that the revoke can be tried again")
			} else {
				require.NoError(t, err)
				assert.ErrorIs(t, loadErr, ucoauth.ErrTokenNotFound, "revoked, so deleted")
			}
			assert.Equal(t, 1, uc.Stats().Revoke)
		})
	}
}

func TestRevokeOptions(t *testing.T) {
	rs := newRaw(t, 200, ``)
	cfg := rs.config("sekrit")
	var used atomic.Int32
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	err := ucoauth.Revoke(t.Context(), cfg, "at-1",
		ucoauth.WithRevokeURL(rs.URL+"/custom/revoke"), ucoauth.WithSimpleKey("sk-1"), ucoauth.WithHTTPClient(client))
	require.NoError(t, err)
	form, hdr := rs.last()
	assert.Equal(t, "at-1", form.Get("token"))
	assert.Equal(t, "sekrit", form.Get("client_secret"))
	assert.Equal(t, "sk-1", hdr.Get(ultracart.HeaderSimpleKey))
	assert.EqualValues(t, 1, used.Load(), "WithHTTPClient applies")
	rs.mu.Lock()
	assert.Equal(t, "POST /custom/revoke", rs.paths[len(rs.paths)-1])
	rs.mu.Unlock()

	// Without the option, UltraCart's layout: the token URL's sibling.
	require.NoError(t, ucoauth.Revoke(t.Context(), cfg, "at-1"))
	rs.mu.Lock()
	assert.Equal(t, "POST /rest/v2/oauth/revoke", rs.paths[len(rs.paths)-1])
	rs.mu.Unlock()

	// A TokenSource takes the option too.
	store := tokenstore.NewMemory()
	uc := ucoauthtest.NewServer()
	defer uc.Close()
	require.NoError(t, store.Save(t.Context(), "m", uc.Issue("M")))
	src := ucoauth.NewTokenSource(cfg, store, "m", ucoauth.WithRevokeURL(rs.URL+"/other/revoke"))
	require.NoError(t, src.Revoke(t.Context()))
	rs.mu.Lock()
	assert.Equal(t, "POST /other/revoke", rs.paths[len(rs.paths)-1])
	rs.mu.Unlock()

	// The revoke URL must be https, or plain http to loopback.
	err = ucoauth.Revoke(t.Context(), cfg, "at-1", ucoauth.WithRevokeURL("http://example.com/oauth/revoke"))
	assert.ErrorIs(t, err, ucoauth.ErrInsecureEndpoint)
}

package ucoauth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// gatedLoadStore holds its first Load, after the read, until gate closes:
// a read that found nothing and is still on its way back.
type gatedLoadStore struct {
	ucoauth.TokenStore
	once    sync.Once
	entered chan struct{}
	gate    chan struct{}
}

func (g *gatedLoadStore) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	tok, err := g.TokenStore.Load(ctx, key)
	g.once.Do(func() {
		close(g.entered)
		<-g.gate
	})
	return tok, err
}

// TestManagerSaveDuringAColdLoadIsServed: a cold load that read nothing
// just before Manager.Save stored the merchant's first token must not
// serve that stale "not found" after Save returned: the load that
// overlapped a save in this process reads again, and every caller of it,
// including one that joined after Save returned, gets the token.
func TestManagerSaveDuringAColdLoadIsServed(t *testing.T) {
	f := newFixture(t, time.Hour)
	gs := &gatedLoadStore{TokenStore: tokenstore.NewMemory(), entered: make(chan struct{}), gate: make(chan struct{})}
	m := ucoauth.NewManager(f.cfg, gs, ucoauth.WithNotFoundCache(time.Hour, 0))
	defer m.Close()

	type result struct {
		tok *oauth2.Token
		err error
	}
	first := make(chan result, 1)
	go func() {
		tok, err := m.Source("m").Token()
		first <- result{tok, err}
	}()
	<-gs.entered // the load read nothing and is on its way back

	tok := f.srv.Issue("DEMO", ucoauth.ScopeOrderRead)
	require.NoError(t, m.Save(t.Context(), "m", tok))
	close(gs.gate)

	r := <-first
	require.NoError(t, r.err, "a load that overlapped Manager.Save served its stale miss")
	assert.Equal(t, tok.AccessToken, r.tok.AccessToken)
	got, err := m.Source("m").Token()
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, got.AccessToken)
}

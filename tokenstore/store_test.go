package tokenstore_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/record"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) ucoauth.TokenStore { return tokenstore.NewMemory() },
		Plant: func(t *testing.T, s ucoauth.TokenStore, key string, raw []byte) {
			tokenstore.PlantMemory(s.(*tokenstore.Memory), key, raw)
		},
	})
}

func newFile(t *testing.T) *tokenstore.File {
	f, err := tokenstore.NewFile(filepath.Join(t.TempDir(), "tokens"))
	require.NoError(t, err)
	return f
}

func TestFileConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) ucoauth.TokenStore { return newFile(t) },
		Peer: func(t *testing.T, s ucoauth.TokenStore) ucoauth.TokenStore {
			f, err := tokenstore.NewFile(tokenstore.FileDir(s.(*tokenstore.File)))
			require.NoError(t, err)
			return f
		},
		// The dying holder is a real process: see TestFileLockReleasedWhenProcessDies.
		Plant: func(t *testing.T, s ucoauth.TokenStore, key string, raw []byte) {
			require.NoError(t, os.WriteFile(tokenstore.FilePath(s.(*tokenstore.File), key), raw, 0o600))
		},
	})
}

func TestFilePermissionsAndAtomicity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	f, err := tokenstore.NewFile(dir)
	require.NoError(t, err)
	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm(), "an existing directory is tightened to 0700")

	require.NoError(t, f.Save(t.Context(), "m", storetest.Token("at", time.Now().Add(time.Hour))))
	fi, err := os.Stat(tokenstore.FilePath(f, "m"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, strings.HasPrefix(e.Name(), ".tmp-"), "temporary file %s left behind", e.Name())
	}

	b, err := os.ReadFile(tokenstore.FilePath(f, "m"))
	require.NoError(t, err)
	assert.Contains(t, string(b), `"version":1`)
	assert.Contains(t, string(b), `"scope":"order_read item_write"`)
}

func TestFileKeysStayInside(t *testing.T) {
	f := newFile(t)
	for _, k := range storetest.OddKeys {
		p := tokenstore.FilePath(f, k)
		assert.Equal(t, tokenstore.FileDir(f), filepath.Dir(p), "key %q escapes to %s", k, p)
		assert.LessOrEqual(t, len(filepath.Base(p)), 255, "key %q gives an over-long name", k)
		assert.NotContains(t, filepath.Base(p), "\x00")
	}
	assert.NotEqual(t, tokenstore.FilePath(f, "UPPER"), tokenstore.FilePath(f, "upper"), "case-insensitive file systems must not merge keys")
}

func TestFileCorruptIsAnError(t *testing.T) {
	f := newFile(t)
	require.NoError(t, os.WriteFile(tokenstore.FilePath(f, "m"), []byte(`{"version":1,"key":"m","access_tok`), 0o600))
	_, err := f.Load(t.Context(), "m")
	require.ErrorIs(t, err, tokenstore.ErrCorrupt)
	assert.Contains(t, err.Error(), tokenstore.FilePath(f, "m"), "the error names the file")

	require.NoError(t, os.WriteFile(tokenstore.FilePath(f, "m"), []byte(`{"version":0,"key":"m","access_token":"secret-at"}`), 0o600))
	_, err = f.Load(t.Context(), "m")
	require.ErrorIs(t, err, tokenstore.ErrCorrupt)
	assert.Contains(t, err.Error(), "version 0")
	assert.NotContains(t, err.Error(), "secret-at")

	// A record copied from another key's file is not trusted.
	require.NoError(t, f.Save(t.Context(), "other", storetest.Token("at", time.Now().Add(time.Hour))))
	b, err := os.ReadFile(tokenstore.FilePath(f, "other"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(tokenstore.FilePath(f, "m"), b, 0o600))
	_, err = f.Load(t.Context(), "m")
	assert.ErrorIs(t, err, tokenstore.ErrCorrupt)

	// Only a real token may replace a corrupt file.
	assert.ErrorIs(t, f.Save(t.Context(), "m", nil), tokenstore.ErrInvalidToken)
	_, err = f.Load(t.Context(), "m")
	assert.ErrorIs(t, err, tokenstore.ErrCorrupt, "still the corrupt file, not an empty token")
}

// TestFileLockReleasedWhenProcessDies has a child process take a key's lock
// and get killed while holding it; the OS must release the lock.
func TestFileLockReleasedWhenProcessDies(t *testing.T) {
	if os.Getenv("UCOAUTH_LOCK_CHILD") != "" {
		f, err := tokenstore.NewFile(os.Getenv("UCOAUTH_LOCK_CHILD"))
		require.NoError(t, err)
		_, err = f.Lock(t.Context(), "m")
		require.NoError(t, err)
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Minute) // killed before this ends
		return
	}
	f := newFile(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileLockReleasedWhenProcessDies$")
	cmd.Env = append(os.Environ(), "UCOAUTH_LOCK_CHILD="+tokenstore.FileDir(f))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	buf := make([]byte, 7)
	_, err = out.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "locked\n", string(buf))

	short, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = f.Lock(short, "m")
	require.Error(t, err, "the child holds the lock")

	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	unlock, err := f.Lock(t.Context(), "m")
	require.NoError(t, err, "the dead child's lock is released")
	unlock()
}

// TestInvalidUTF8KeysRefusedByEveryStore: a key JSON cannot keep is refused
// up front, with ErrInvalidKey, by every operation of every store, instead
// of being saved and then failing to load as ErrCorrupt. (redisstore and
// sqlstore run storetest.RefusesInvalidKeys on theirs.)
func TestInvalidUTF8KeysRefusedByEveryStore(t *testing.T) {
	storetest.RefusesInvalidKeys(t, tokenstore.NewMemory())
	storetest.RefusesInvalidKeys(t, newFile(t))
	tok := storetest.Token("at", time.Now().Add(time.Hour))
	_, err := record.Marshal("\xff", tok)
	assert.ErrorIs(t, err, tokenstore.ErrInvalidKey, "Marshal refuses it too")
	_, err = record.Unmarshal("\xff", []byte(`{"version":1,"key":"\ufffd","access_token":"at"}`))
	assert.ErrorIs(t, err, tokenstore.ErrInvalidKey, "and Unmarshal")
}

// TestMergeDistrustsImpossibleExpiry: Merge itself, given raw stored values
// by a store of your own, never lets an expiry beyond MaxProviderLifetime win.
func TestMergeDistrustsImpossibleExpiry(t *testing.T) {
	now := time.Now()
	fresh := storetest.Token("fresh", now.Add(time.Hour))
	fresh.RefreshToken = ""
	for _, far := range []time.Time{
		now.Add(ucoauth.MaxProviderLifetime + time.Hour),
		time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(292277026596, 12, 4, 15, 30, 7, 0, time.UTC), // the largest time.Time
	} {
		old := storetest.Token("far", far)
		got, err := record.Merge(old, fresh)
		require.NoError(t, err, "a stored %v expiry must not supersede a fresh real token", far)
		assert.Equal(t, "fresh", got.AccessToken)
		assert.Equal(t, "rt-far", got.RefreshToken, "the stored refresh token is kept")

		_, err = record.Merge(storetest.Token("real", now.Add(time.Hour)), storetest.Token("far", far))
		if far.Year() <= 9999 {
			assert.ErrorIs(t, err, ucoauth.ErrSuperseded, "an impossible expiry does not beat a real one")
		} else {
			assert.ErrorIs(t, err, tokenstore.ErrInvalidToken, "a record cannot hold year %d", far.Year())
		}
	}
	got, err := record.Merge(storetest.Token("real", now.Add(2*time.Hour)), fresh)
	require.ErrorIs(t, err, ucoauth.ErrSuperseded, "real expiries still order saves")
	assert.Nil(t, got)

	_, err = record.Marshal("m", storetest.Token("at", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)))
	assert.ErrorIs(t, err, tokenstore.ErrInvalidToken, "an expiry JSON cannot hold is refused, not mangled")
	_, err = record.Marshal("m", storetest.Token("at\xff", now))
	assert.ErrorIs(t, err, tokenstore.ErrInvalidToken, "a token JSON would change is refused")
	assert.NotContains(t, err.Error(), "at\xff")
}

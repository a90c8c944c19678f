package tokenstore_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ucoauth/go-ucoauth/internal/record"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/storetest"
)

// lockPath is where File keeps key's refresh lock, beside its token file.
func lockPath(f *tokenstore.File, key string) string {
	return strings.TrimSuffix(tokenstore.FilePath(f, key), ".json") + ".lock"
}

func TestFileRefusesSymlinkedDirectory(t *testing.T) {
	base := t.TempDir()
	target := filepath.Join(base, "elsewhere")
	require.NoError(t, os.Mkdir(target, 0o755))
	link := filepath.Join(base, "tokens")
	require.NoError(t, os.Symlink(target, link))

	_, err := tokenstore.NewFile(link)
	require.ErrorIs(t, err, tokenstore.ErrUnsafePath)
	assert.Contains(t, err.Error(), "symbolic link")
	fi, err := os.Stat(target)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), fi.Mode().Perm(), "the link's target is not chmod-ed")
	entries, err := os.ReadDir(target)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing is created through the link")

	file := filepath.Join(base, "a-file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err = tokenstore.NewFile(file)
	assert.ErrorIs(t, err, tokenstore.ErrUnsafePath, "a regular file is not a token directory")

	// A link among the parents is the parents' business.
	f, err := tokenstore.NewFile(filepath.Join(link, "sub"))
	require.NoError(t, err)
	require.NoError(t, f.Save(t.Context(), "m", storetest.Token("at", time.Now().Add(time.Hour))))
}

func TestFileRefusesSymlinkedTokenFile(t *testing.T) {
	f := newFile(t)
	ctx := t.Context()
	// The attacker's file holds a well-formed record for "m", readable by
	// all: following the link would adopt the attacker's token.
	outside := filepath.Join(t.TempDir(), "planted.json")
	planted, err := record.Marshal("m", storetest.Token("attacker", time.Now().Add(time.Hour)))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(outside, planted, 0o644))
	require.NoError(t, os.Symlink(outside, tokenstore.FilePath(f, "m")))

	_, err = f.Load(ctx, "m")
	require.ErrorIs(t, err, tokenstore.ErrUnsafePath, "a symlinked token file is not read")
	assert.Contains(t, err.Error(), "symbolic link")
	err = f.Save(ctx, "m", storetest.Token("ours", time.Now().Add(2*time.Hour)))
	require.ErrorIs(t, err, tokenstore.ErrUnsafePath, "nor replaced")
	_, err = f.Keys(ctx)
	assert.ErrorIs(t, err, tokenstore.ErrUnsafePath, "nor listed")
	b, err := os.ReadFile(outside)
	require.NoError(t, err)
	assert.Equal(t, planted, b, "nothing is written through the link")
	fi, err := os.Stat(outside)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "the target is not chmod-ed")

	// A dangling link: saving must not create the file it points to.
	dangling := filepath.Join(t.TempDir(), "created-by-us.json")
	require.NoError(t, os.Symlink(dangling, tokenstore.FilePath(f, "d")))
	assert.ErrorIs(t, f.Save(ctx, "d", storetest.Token("ours", time.Now().Add(time.Hour))), tokenstore.ErrUnsafePath)
	_, err = os.Lstat(dangling)
	assert.ErrorIs(t, err, os.ErrNotExist, "no file is created where the link points")
}

func TestFileRefusesSymlinkedLockFiles(t *testing.T) {
	f := newFile(t)
	ctx := t.Context()
	elsewhere := t.TempDir()

	keyLock := filepath.Join(elsewhere, "key.lock")
	require.NoError(t, os.Symlink(keyLock, lockPath(f, "m")))
	_, err := f.Lock(ctx, "m")
	require.ErrorIs(t, err, tokenstore.ErrUnsafePath)
	_, err = os.Lstat(keyLock)
	assert.ErrorIs(t, err, os.ErrNotExist, "the refresh lock is not created where the link points")

	writeLock := filepath.Join(elsewhere, "write.lock")
	require.NoError(t, os.Remove(filepath.Join(tokenstore.FileDir(f), ".write.lock")))
	require.NoError(t, os.Symlink(writeLock, filepath.Join(tokenstore.FileDir(f), ".write.lock")))
	err = f.Save(ctx, "m", storetest.Token("at", time.Now().Add(time.Hour)))
	require.ErrorIs(t, err, tokenstore.ErrUnsafePath)
	_, err = os.Lstat(writeLock)
	assert.ErrorIs(t, err, os.ErrNotExist, "the write lock is not created where the link points")
	_, err = tokenstore.NewFile(tokenstore.FileDir(f))
	assert.ErrorIs(t, err, tokenstore.ErrUnsafePath, "NewFile's clean-up takes the write lock too")
}

func TestFileTightensLooseTokenFile(t *testing.T) {
	f := newFile(t)
	tok := storetest.Token("at", time.Now().Add(time.Hour))
	require.NoError(t, f.Save(t.Context(), "m", tok))
	require.NoError(t, os.Chmod(tokenstore.FilePath(f, "m"), 0o644)) // a careless copy
	got, err := f.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, "at", got.AccessToken)
	fi, err := os.Stat(tokenstore.FilePath(f, "m"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "a loose token file is tightened when read")
}

func TestFileRefusesDirectoryAsTokenFile(t *testing.T) {
	f := newFile(t)
	require.NoError(t, os.Mkdir(tokenstore.FilePath(f, "m"), 0o700))
	_, err := f.Load(t.Context(), "m")
	assert.ErrorIs(t, err, tokenstore.ErrUnsafePath)
}

func TestFileOversizedRecordIsCorrupt(t *testing.T) {
	f := newFile(t)
	require.NoError(t, os.WriteFile(tokenstore.FilePath(f, "m"), make([]byte, 5<<20), 0o600))
	_, err := f.Load(t.Context(), "m")
	require.ErrorIs(t, err, tokenstore.ErrCorrupt)
	require.NoError(t, f.Save(t.Context(), "m", storetest.Token("at", time.Now().Add(time.Hour))), "a real token replaces it")
	got, err := f.Load(t.Context(), "m")
	require.NoError(t, err)
	assert.Equal(t, "at", got.AccessToken)
}

func TestFileRemovesStaleTempFiles(t *testing.T) {
	f := newFile(t)
	stale, err := record.Marshal("m", storetest.Token("SECRET-left-by-a-killed-writer", time.Now().Add(time.Hour)))
	require.NoError(t, err)
	for _, name := range []string{".tmp-123456", ".tmp-", ".tmp-link"} {
		p := filepath.Join(tokenstore.FileDir(f), name)
		if name == ".tmp-link" {
			require.NoError(t, os.Symlink(filepath.Join(t.TempDir(), "keep"), p))
			continue
		}
		require.NoError(t, os.WriteFile(p, stale, 0o600))
	}
	keep := filepath.Join(tokenstore.FileDir(f), "not-a-temp.tmp-1")
	require.NoError(t, os.WriteFile(keep, nil, 0o600))

	_, err = tokenstore.NewFile(tokenstore.FileDir(f))
	require.NoError(t, err)
	entries, err := os.ReadDir(tokenstore.FileDir(f))
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, strings.HasPrefix(e.Name(), ".tmp-"), "stale temporary file %s kept", e.Name())
	}
	_, err = os.Stat(keep)
	assert.NoError(t, err, "only names starting .tmp- are removed")
}

// TestFileCleanupSparesLiveWriters: NewFile's clean-up runs under the
// write lock, so opening the directory again and again while other handles
// save never removes a temporary file a writer still needs.
func TestFileCleanupSparesLiveWriters(t *testing.T) {
	f := newFile(t)
	base := time.Now().Add(time.Hour)
	done := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		defer close(done)
		for i := range 200 {
			peer, err := tokenstore.NewFile(tokenstore.FileDir(f))
			if err == nil {
				err = peer.Save(t.Context(), "m", storetest.Token(fmt.Sprintf("at-%03d", i), base.Add(time.Duration(i)*time.Second)))
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	for {
		select {
		case <-done:
			close(errs)
			require.NoError(t, <-errs)
			got, err := f.Load(t.Context(), "m")
			require.NoError(t, err)
			assert.Equal(t, "at-199", got.AccessToken)
			return
		default:
			_, err := tokenstore.NewFile(tokenstore.FileDir(f))
			require.NoError(t, err)
		}
	}
}

// TestFileRefusesForeignOwnedPaths: a token file or directory owned by
// another user is not the store's own. Its owner can rewrite it at will (a
// record planted while the directory was open to all, or a directory whose
// owner can chmod it back), so it is refused, not adopted, even by root,
// whose chmod would otherwise "tighten" it and carry on.
func TestFileRefusesForeignOwnedPaths(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a file to another user needs root")
	}
	const nobody = 65534
	f := newFile(t)
	planted, err := record.Marshal("m", storetest.Token("attacker", time.Now().Add(time.Hour)))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(tokenstore.FilePath(f, "m"), planted, 0o644))
	require.NoError(t, os.Chown(tokenstore.FilePath(f, "m"), nobody, nobody))

	tok, err := f.Load(t.Context(), "m")
	require.ErrorIs(t, err, tokenstore.ErrUnsafePath, "another user's token file is not adopted")
	assert.Nil(t, tok)
	assert.Contains(t, err.Error(), "owned by")
	err = f.Save(t.Context(), "m", storetest.Token("at", time.Now().Add(time.Hour)))
	assert.ErrorIs(t, err, tokenstore.ErrUnsafePath, "nor silently replaced")

	dir := filepath.Join(t.TempDir(), "shared")
	require.NoError(t, os.Mkdir(dir, 0o700))
	require.NoError(t, os.Chmod(dir, 0o777)) // past the umask
	require.NoError(t, os.Chown(dir, nobody, nobody))
	_, err = tokenstore.NewFile(dir)
	require.ErrorIs(t, err, tokenstore.ErrUnsafePath, "another user's directory")
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o777), fi.Mode().Perm(), "refused before any chmod")
}

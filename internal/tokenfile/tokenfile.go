// Package tokenfile names the files of tokenstore's File store. It is the
// one definition of that naming, shared by the store and by tests and tools
// of this repository that must reach a key's file on disk (to plant a
// hostile record, or check what was written), so that the store need not
// export its paths.
package tokenfile

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
)

// Name returns the base name, without extension, of key's files: a
// readable, lower-case rendering of the key (at most 64 characters of
// [a-z0-9_-]) followed by a hash of the exact key, so that "../" and "/"
// cannot escape the directory, NUL and very long keys are fine, and keys
// differing only in case stay apart on case-insensitive file systems.
func Name(key string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(key) {
		if b.Len() >= 64 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(key))
	return b.String() + "." + hex.EncodeToString(sum[:10])
}

// Token returns the path of the file that holds key's token in dir.
func Token(dir, key string) string { return filepath.Join(dir, Name(key)+".json") }

// Lock returns the path of key's lock file in dir.
func Lock(dir, key string) string { return filepath.Join(dir, Name(key)+".lock") }

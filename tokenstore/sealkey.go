package tokenstore

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/ucoauth/go-ucoauth/internal/redact"
)

// This file holds Seal's keys: what a key is, how it prints (never its
// secret), which keys are acceptable, and how they are read from
// configuration. It uses no other seal file.

// SealKeySize is the length of a SealKey's Secret: 32 bytes, for AES-256.
const SealKeySize = 32

// PlaintextKeyID is the reserved ID of the pseudo-key that reads records
// written before sealing was turned on. SealKey{ID: PlaintextKeyID}, with no
// Secret, may be given among Seal's older keys (and as "plaintext" in
// ParseSealKeys) during a migration: unsealed values then load as they are,
// and every Save and Reseal seals them with the primary key. Without it, an
// unsealed value is refused, because anyone able to write to the store could
// otherwise plant a token of their choosing under any merchant's key.
const PlaintextKeyID = "plaintext"

// maxKeyIDLen bounds a key ID, so that it stays a short name.
const maxKeyIDLen = 32

// ErrSealConfig means the keys given to Seal or ParseSealKeys are weak or
// inconsistent: a secret that is not 32 bytes or is one byte repeated (all
// zeros), an empty, invalid or reserved ID, two keys with one ID, or two IDs
// with one secret. It is not temporary: retrying cannot fix it.
var ErrSealConfig error = permanent("tokenstore: bad seal key configuration")

// SealKey is a named 256-bit key for Seal. Its Secret never prints: fmt (every
// verb), log/slog, encoding/json and encoding (text) show it as [REDACTED].
// Seal keeps no reference to Secret, so the caller may wipe it afterwards.
type SealKey struct {
	ID     string // names the key inside every record it seals
	Secret []byte // exactly 32 bytes
}

// String names the key and hides the secret.
func (k SealKey) String() string { return "SealKey(" + k.ID + ", " + redact.Placeholder + ")" }

// Format hides the secret from every fmt verb, %#v included (fmt asks a
// Formatter before a GoStringer).
func (k SealKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue hides the secret from log/slog.
func (k SealKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("secret", redact.Placeholder))
}

// MarshalJSON writes the ID and hides the secret.
func (k SealKey) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"id":%q,"secret":%q}`, k.ID, redact.Placeholder), nil
}

// MarshalText hides the secret from text encoders (XML, map keys).
func (k SealKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

func validKeyID(id string) bool {
	if id == "" || len(id) > maxKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// checkKeys refuses a weak or inconsistent key set (ErrSealConfig), and
// reports whether it holds the plaintext pseudo-key. Its errors name key
// IDs and positions, never a secret.
func checkKeys(primary SealKey, older []SealKey) (plaintext bool, err error) {
	if primary.ID == PlaintextKeyID {
		return false, fmt.Errorf("%w: the primary key cannot be %q: new records must be sealed", ErrSealConfig, PlaintextKeyID)
	}
	seen := map[string]bool{}
	var secrets []SealKey // compared, then dropped: Seal keeps no secret
	for i, k := range append([]SealKey{primary}, older...) {
		if k.ID == PlaintextKeyID {
			if len(k.Secret) != 0 {
				return false, fmt.Errorf("%w: key %d: ID %q is reserved for reading unsealed records and takes no secret", ErrSealConfig, i, PlaintextKeyID)
			}
			if plaintext {
				return false, fmt.Errorf("%w: key ID %q given twice", ErrSealConfig, k.ID)
			}
			plaintext = true
			continue
		}
		if !validKeyID(k.ID) {
			return false, fmt.Errorf("%w: key %d: an ID is 1 to %d characters of A-Z a-z 0-9 . _ -", ErrSealConfig, i, maxKeyIDLen)
		}
		if seen[k.ID] {
			return false, fmt.Errorf("%w: key ID %q given twice", ErrSealConfig, k.ID)
		}
		seen[k.ID] = true
		if len(k.Secret) != SealKeySize {
			return false, fmt.Errorf("%w: key %q: the secret is %d bytes, want %d", ErrSealConfig, k.ID, len(k.Secret), SealKeySize)
		}
		if degenerate(k.Secret) {
			return false, fmt.Errorf("%w: key %q: the secret is one byte repeated (all zeros?), not random", ErrSealConfig, k.ID)
		}
		for _, prev := range secrets {
			if subtle.ConstantTimeCompare(prev.Secret, k.Secret) == 1 {
				// A rotation that changed the ID only: retiring the "old"
				// key would retire nothing.
				return false, fmt.Errorf("%w: keys %q and %q have one secret", ErrSealConfig, prev.ID, k.ID)
			}
		}
		secrets = append(secrets, k)
	}
	return plaintext, nil
}

// degenerate reports a secret of one repeated byte: an unset buffer or a
// placeholder, never the output of a random generator.
func degenerate(secret []byte) bool {
	for _, b := range secret {
		if b != secret[0] {
			return false
		}
	}
	return true
}

// ParseSealKeys reads keys from configuration, such as an environment
// variable: comma-separated "ID:BASE64" entries, the first being the primary
// key and the rest older keys, for Seal(inner, keys[0], keys[1:]...). BASE64
// is standard or URL base64, padded or not, of exactly 32 bytes (make one
// with `head -c32 /dev/urandom | base64`). The entry "plaintext" adds the
// plaintext pseudo-key (PlaintextKeyID) for a migration. Errors match
// ErrSealConfig and never quote a secret.
func ParseSealKeys(s string) ([]SealKey, error) {
	var keys []SealKey
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if entry == PlaintextKeyID {
			keys = append(keys, SealKey{ID: PlaintextKeyID})
			continue
		}
		id, b64, ok := strings.Cut(entry, ":")
		id, b64 = strings.TrimSpace(id), strings.TrimSpace(b64)
		if !ok || !validKeyID(id) {
			return nil, fmt.Errorf("%w: entry %d: want ID:BASE64 with an ID of 1 to %d characters of A-Z a-z 0-9 . _ -", ErrSealConfig, i+1, maxKeyIDLen)
		}
		secret, err := decodeSecret(b64)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: the secret is not base64", ErrSealConfig, id)
		}
		keys = append(keys, SealKey{ID: id, Secret: secret})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrSealConfig)
	}
	if _, err := checkKeys(keys[0], keys[1:]); err != nil {
		return nil, err
	}
	return keys, nil
}

func decodeSecret(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

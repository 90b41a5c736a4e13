package membership

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/memberlist"
)

// ErrBadKey is wrapped by the errors of ParseKey and LoadKeyringFile.
var ErrBadKey = errors.New("membership: bad gossip key")

// MaxKeyringKeys bounds the number of keys a keyring file may hold.
const MaxKeyringKeys = 16

// ParseKey decodes a base64 gossip key (standard or URL alphabet, padded or
// not) of 16, 24 or 32 bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	var key []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: not base64: %v", ErrBadKey, err)
	}
	if err := checkKeyLen(key); err != nil {
		return nil, err
	}
	return key, nil
}

// EncodeKey renders a key the way ParseKey and keyring files take it.
func EncodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

func checkKeyLen(k []byte) error {
	switch len(k) {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("%w: a key is %d bytes long, it must be 16, 24 or 32", ErrBadKey, len(k))
}

// LoadKeyringFile reads a keyring file: a JSON array of base64 keys, the
// primary (encrypting) key first; the others are accepted for decryption, so
// a key can be rotated by adding the new key everywhere, making it primary
// everywhere, then removing the old one. This is serf's keyring file format.
func LoadKeyringFile(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("membership: read keyring file: %w", err)
	}
	var encoded []string
	if err := json.Unmarshal(data, &encoded); err != nil {
		return nil, fmt.Errorf("%w: keyring file %s is not a JSON array of base64 strings: %v", ErrBadKey, path, err)
	}
	if len(encoded) == 0 {
		return nil, fmt.Errorf("%w: keyring file %s holds no key", ErrBadKey, path)
	}
	if len(encoded) > MaxKeyringKeys {
		return nil, fmt.Errorf("%w: keyring file %s holds %d keys, at most %d are allowed", ErrBadKey, path, len(encoded), MaxKeyringKeys)
	}
	keys := make([][]byte, 0, len(encoded))
	for i, e := range encoded {
		k, err := ParseKey(e)
		if err != nil {
			return nil, fmt.Errorf("keyring file %s, key %d: %w", path, i, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// WriteKeyringFile writes keys (primary first) in the format LoadKeyringFile
// reads, with mode 0600.
func WriteKeyringFile(path string, keys [][]byte) error {
	encoded := make([]string, len(keys))
	for i, k := range keys {
		encoded[i] = EncodeKey(k)
	}
	data, err := json.Marshal(encoded)
	if err != nil {
		return fmt.Errorf("membership: encode keyring: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("membership: write keyring file: %w", err)
	}
	return nil
}

// newKeyring builds memberlist's keyring: keys[0] is primary.
func newKeyring(keys [][]byte) (*memberlist.Keyring, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	kr, err := memberlist.NewKeyring(keys[1:], keys[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	return kr, nil
}

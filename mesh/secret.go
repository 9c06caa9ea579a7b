package mesh

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/libp2p/go-libp2p/core/pnet"
)

// Secret is the cluster's 32-byte pre-shared key. Every node and client of a
// mesh must hold the same secret: a hash of it is the prologue of every
// connection's Noise handshake, so a peer with another secret (or none)
// cannot complete one. It keeps libp2p's PSK (swarm.key) file format.
type Secret []byte

// SecretFile is the name under which a node keeps the secret in its data dir.
const SecretFile = "secret"

// Sentinel errors callers branch on.
var (
	// ErrNoSecret: a secret file was named but does not exist.
	ErrNoSecret = errors.New("secret file not found")
	// ErrBadSecret: a secret file exists but is not a mesh secret.
	ErrBadSecret = errors.New("malformed secret file")
	// ErrCorruptDataDir: a file in the data dir cannot be decoded.
	ErrCorruptDataDir = errors.New("corrupt data dir")
)

// NewSecret returns a fresh random secret.
func NewSecret() (Secret, error) {
	s := make([]byte, 32)
	if _, err := rand.Read(s); err != nil {
		return nil, fmt.Errorf("generate secret: %w", err)
	}
	return Secret(s), nil
}

// Encode renders the secret in libp2p's swarm.key format (base16), which
// other libp2p tools (kubo, ipfs-cluster) read too.
func (s Secret) Encode() []byte {
	return []byte("/key/swarm/psk/1.0.0/\n/base16/\n" + hex.EncodeToString(s) + "\n")
}

// PSK converts the secret for libp2p's private network option.
func (s Secret) PSK() pnet.PSK { return pnet.PSK(s) }

// ParseSecret decodes a secret in swarm.key format.
func ParseSecret(data []byte) (Secret, error) {
	psk, err := pnet.DecodeV1PSK(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if len(psk) != 32 {
		return nil, fmt.Errorf("key is %d bytes, want 32", len(psk))
	}
	return Secret(psk), nil
}

// ReadSecretFile reads and checks a secret file.
func ReadSecretFile(path string) (Secret, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w: copy the mesh's secret (the first node's <data-dir>/secret) to this host and pass it with --secret-file", path, ErrNoSecret)
	}
	if err != nil {
		return nil, fmt.Errorf("read secret file %s: %w", path, err)
	}
	s, err := ParseSecret(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (%v): it should be the secret file written by the first node, three lines starting with /key/swarm/psk/1.0.0/", path, ErrBadSecret, err)
	}
	return s, nil
}

// WriteSecretFile saves the secret with mode 0600.
func WriteSecretFile(path string, s Secret) error {
	if err := WriteFileAtomic(path, s.Encode(), 0o600); err != nil {
		return fmt.Errorf("write secret file: %w", err)
	}
	return nil
}

// prologue is what both sides of a connection mix into their Noise
// handshake: only hosts with the same secret complete it.
func (s Secret) prologue() []byte {
	h := sha256.Sum256(append([]byte("mesh/noise-prologue/v1\x00"), s...))
	return h[:]
}

package settings

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Sealer encrypts the secrets a tenant admin writes into settings (an SMTP password, a
// sign-in provider's client secret) with a key the node derives from its signing
// secret. The API never answers them back; sealing also keeps them out of a copy of the
// tenant's database, which its admin may take away with custom SQL or a backup.
type Sealer struct{ key []byte }

// NewSealer derives the sealing key from the node's secret (the same on every node).
func NewSealer(secret []byte) *Sealer {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("strata settings secrets v1"))
	return &Sealer{key: m.Sum(nil)}
}

const sealedPrefix = "v1:"

// ErrUnsealable is Open's answer for a secret sealed under another key (the node's
// secret changed) or damaged: the admin writes the secret again.
var ErrUnsealable = errors.New("a stored secret cannot be read with this node's key; write it again")

// Seal encrypts plain ("" stays "": no secret).
func (s *Sealer) Seal(plain string) (string, error) {
	if plain == "" {
		return "", nil
	}
	gcm, err := s.gcm()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal secret: %w", err)
	}
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(gcm.Seal(nonce, nonce, []byte(plain), nil)), nil
}

// Open decrypts what Seal wrote.
func (s *Sealer) Open(sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, sealedPrefix))
	if err != nil || !strings.HasPrefix(sealed, sealedPrefix) {
		return "", ErrUnsealable
	}
	gcm, err := s.gcm()
	if err != nil {
		return "", err
	}
	if len(raw) < gcm.NonceSize() {
		return "", ErrUnsealable
	}
	plain, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], nil)
	if err != nil {
		return "", ErrUnsealable
	}
	return string(plain), nil
}

func (s *Sealer) gcm() (cipher.AEAD, error) {
	if len(s.key) == 0 {
		return nil, errors.New("settings sealer has no key")
	}
	block, err := aes.NewCipher(s.key)
	if err != nil {
		return nil, fmt.Errorf("settings sealer: %w", err)
	}
	return cipher.NewGCM(block)
}

// Package secretbox owns sealing secrets at rest: deploy keys, webhook
// secrets and environment secrets are encrypted with AES-256-GCM under the
// portal's secret key before they reach the database, and opened only where
// they are used. The key comes from SLIPWAY_SECRET_KEY (base64 of 32 bytes)
// or from a 0600 key file in the data directory, created on first start.
//
// A sealed value is: one key-version byte, a 12-byte random nonce, then the
// ciphertext with its 16-byte tag. The version byte lets a later key rotation
// keep opening values sealed under an older key.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

// currentVersion is the key version new values are sealed with.
const currentVersion byte = 1

const nonceSize = 12

// Sentinel errors.
var (
	// ErrOpen means a sealed value could not be opened: it was changed,
	// sealed under another key, or bound to other additional data.
	ErrOpen = errors.New("secretbox: cannot open sealed value (tampered, wrong key or wrong context)")
	// ErrUnknownVersion means the value was sealed with a key version this
	// box does not hold.
	ErrUnknownVersion = errors.New("secretbox: sealed with an unknown key version")
	// ErrNoKey means no key is configured and none may be created.
	ErrNoKey = errors.New("secretbox: no secret key")
	// ErrKeyFileMode means the key file is readable by others than its owner.
	ErrKeyFileMode = errors.New("secretbox: key file permissions too open")
	// ErrBadKey means a key is not 32 bytes of base64.
	ErrBadKey = errors.New("secretbox: key must be 32 bytes, base64-encoded")
)

// Box seals and opens values under the portal's key. It is safe for
// concurrent use.
type Box struct {
	aeads   map[byte]cipher.AEAD
	current byte
	keyID   string
	// prk is the HKDF pseudorandom key that DeriveKey expands; the secret
	// key itself is never handed out.
	prk []byte
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w (got %d bytes)", ErrBadKey, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	// The key ID is a one-way fingerprint, safe to log, that lets an
	// operator see whether two processes use the same key.
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("slipway secretbox key id"))
	prk, err := hkdf.Extract(sha256.New, key, []byte("slipway secretbox derive"))
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	return &Box{
		prk:     prk,
		aeads:   map[byte]cipher.AEAD{currentVersion: aead},
		current: currentVersion,
		keyID:   hex.EncodeToString(mac.Sum(nil)[:6]),
	}, nil
}

// DecodeKey parses a base64 key (standard or URL alphabet, padded or not).
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("%w (got %d bytes)", ErrBadKey, len(k))
			}
			return k, nil
		}
	}
	return nil, ErrBadKey
}

// NewKey returns a fresh random key, base64-encoded.
func NewKey() string {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		panic("secretbox: crypto/rand failed: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(k)
}

// KeyID is a short fingerprint of the key, safe to print.
func (b *Box) KeyID() string { return b.keyID }

// DeriveKey returns a 32-byte key for one purpose (say "csrf"), derived
// from the secret key with HKDF-SHA256: stable across restarts and equal in
// every process that shares the secret key, yet useless for opening sealed
// values or for deriving the key of another purpose.
func (b *Box) DeriveKey(purpose string) []byte {
	k, err := hkdf.Expand(sha256.New, b.prk, "slipway "+purpose, KeySize)
	if err != nil {
		panic("secretbox: hkdf: " + err.Error())
	}
	return k
}

// Seal encrypts plaintext and binds it to additionalData (say
// "projects.deploy_key:<slug>"), which must be given again to Open: a value
// copied to another row or column does not open there.
func (b *Box) Seal(plaintext, additionalData []byte) []byte {
	aead := b.aeads[b.current]
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+aead.Overhead())
	out[0] = b.current
	if _, err := rand.Read(out[1:]); err != nil {
		panic("secretbox: crypto/rand failed: " + err.Error())
	}
	return aead.Seal(out, out[1:1+nonceSize], plaintext, additionalData)
}

// Open decrypts a value from Seal with the same additional data.
func (b *Box) Open(sealed, additionalData []byte) ([]byte, error) {
	if len(sealed) < 1+nonceSize+16 {
		return nil, ErrOpen
	}
	aead, ok := b.aeads[sealed[0]]
	if !ok {
		return nil, fmt.Errorf("%w %d", ErrUnknownVersion, sealed[0])
	}
	pt, err := aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], additionalData)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

package secretbox

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyFileName is the key file's name inside the data directory.
const KeyFileName = "secret.key"

// Source says where the key comes from.
type Source struct {
	// EncodedKey is the value of SLIPWAY_SECRET_KEY (base64 of 32 bytes);
	// when set it wins and no file is read or written.
	EncodedKey string
	// Dir is the data directory holding KeyFileName.
	Dir string
	// Create makes the key file when it does not exist yet. Processes that
	// must share a key made elsewhere (a separate worker) leave it off, so
	// they never invent a key of their own.
	Create bool
}

// Origin tells where a loaded key came from, for the startup log line.
type Origin string

// The key origins.
const (
	FromEnv     Origin = "SLIPWAY_SECRET_KEY"
	FromFile    Origin = "key file"
	FromNewFile Origin = "new key file"
)

// Load returns the Box for src. A key file whose mode grants anything to
// group or others is refused rather than silently fixed: the key may
// already have been read, and the operator should know.
func Load(src Source) (*Box, Origin, error) {
	if src.EncodedKey != "" {
		key, err := DecodeKey(src.EncodedKey)
		if err != nil {
			return nil, "", fmt.Errorf("SLIPWAY_SECRET_KEY: %w", err)
		}
		b, err := New(key)
		return b, FromEnv, err
	}
	path := filepath.Join(src.Dir, KeyFileName)
	key, err := readKeyFile(path)
	switch {
	case err == nil:
		b, err := New(key)
		return b, FromFile, err
	case !errors.Is(err, fs.ErrNotExist):
		return nil, "", err
	case !src.Create:
		return nil, "", fmt.Errorf("%w: set SLIPWAY_SECRET_KEY or provide %s", ErrNoKey, path)
	}
	if err := createKeyFile(path); err != nil {
		return nil, "", err
	}
	// Read back what is on disk: another process may have won the race.
	key, err = readKeyFile(path)
	if err != nil {
		return nil, "", err
	}
	b, err := New(key)
	return b, FromNewFile, err
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("secretbox: read key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secretbox: read key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("secretbox: key file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; run `chmod 600 %s` (and rotate the key if others may have read it)",
			ErrKeyFileMode, path, perm, path)
	}
	raw, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return nil, fmt.Errorf("secretbox: read key file: %w", err)
	}
	key, err := DecodeKey(string(raw))
	if err != nil {
		return nil, fmt.Errorf("secretbox: key file %s: %w", path, err)
	}
	return key, nil
}

// createKeyFile writes a new key to a private temporary file and links it
// into place; link fails if the name exists, so concurrent first starts
// agree on one key and nobody reads a half-written file.
func createKeyFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("secretbox: create key file: %w", err)
	}
	f, err := os.CreateTemp(dir, ".secret.key-*")
	if err != nil {
		return fmt.Errorf("secretbox: create key file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, werr := f.WriteString(NewKey() + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr, os.Chmod(tmp, 0o600)); err != nil {
		return fmt.Errorf("secretbox: create key file: %w", err)
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("secretbox: create key file: %w", err)
	}
	return nil
}

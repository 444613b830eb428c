// Package artifact owns build artifacts: packing the declared paths of a
// workspace into a deterministic tar.gz (Pack), keeping it in a
// content-addressed store under its SHA-256 (Store), and unpacking it safely
// for a release (Unpack, Store.UnpackOnce).
//
// An artifact is immutable: the same files always pack to the same bytes, the
// store keeps one copy per digest, and a release directory is unpacked once
// per digest and shared. Archives are treated as untrusted on the way out:
// Unpack refuses anything that would write or point outside its destination.
package artifact

import "errors"

// Sentinel errors. Every error of this package wraps at most one of them.
var (
	// ErrMissingPath reports a path given to Pack that does not exist.
	ErrMissingPath = errors.New("path does not exist")
	// ErrInvalidPath reports a path given to Pack that is absolute, contains
	// "..", or names an unsupported file type.
	ErrInvalidPath = errors.New("invalid path")
	// ErrNotFound reports a digest the store does not hold.
	ErrNotFound = errors.New("artifact not found")
	// ErrInvalidDigest reports a digest that is not 64 lower-case hex digits.
	ErrInvalidDigest = errors.New("invalid artifact digest")
	// ErrUnsafe reports an archive entry that could write or point outside the
	// destination, or that exceeds the unpack limits.
	ErrUnsafe = errors.New("unsafe archive")
	// ErrCorrupt reports stored bytes that no longer match their digest.
	ErrCorrupt = errors.New("artifact corrupt")
	// ErrDestNotEmpty reports an Unpack destination that already has content.
	ErrDestNotEmpty = errors.New("destination is not empty")
)

// Info describes a stored artifact.
type Info struct {
	// SHA256 is the lower-case hex SHA-256 of the tar.gz bytes: the
	// artifact's address.
	SHA256 string
	// Size is the length of the tar.gz in bytes.
	Size int64
}

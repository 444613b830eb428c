package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Store keeps artifacts in a local directory, each at dir/ab/abcd….tar.gz
// under its SHA-256. Writes go to dir/tmp first and are renamed into place,
// so a reader never sees a partial artifact and several processes may share
// one directory. A Store is safe for concurrent use.
type Store struct {
	dir string
}

// NewStore opens (creating if needed) a store rooted at dir.
func NewStore(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("artifact: new store: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Put stores the bytes read from r and returns their digest and size.
// Storing bytes the store already holds keeps the one existing file.
func (s *Store) Put(ctx context.Context, r io.Reader) (Info, error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "put-*")
	if err != nil {
		return Info{}, fmt.Errorf("artifact: put: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if tmp != "" {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, r})
	if err != nil {
		return Info{}, fmt.Errorf("artifact: put: %w", err)
	}
	info := Info{SHA256: hex.EncodeToString(h.Sum(nil)), Size: size}
	// Stored artifacts are read-only: nothing should ever modify one.
	if err := f.Chmod(0o444); err != nil {
		return Info{}, fmt.Errorf("artifact: put: %w", err)
	}
	if err := f.Sync(); err != nil {
		return Info{}, fmt.Errorf("artifact: put: %w", err)
	}
	if err := f.Close(); err != nil {
		return Info{}, fmt.Errorf("artifact: put: %w", err)
	}
	final := s.path(info.SHA256)
	if fi, err := os.Stat(final); err == nil && fi.Size() == size {
		return info, nil // already stored; the deferred clean-up drops the copy
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return Info{}, fmt.Errorf("artifact: put: %w", err)
	}
	// Rename is atomic, and a concurrent Put of the same bytes renames
	// identical content: whichever lands last, the file is whole.
	if err := os.Rename(tmp, final); err != nil {
		return Info{}, fmt.Errorf("artifact: put: %w", err)
	}
	tmp = ""
	return info, nil
}

// Open returns the stored bytes of the artifact sha and its Info. The caller
// closes the reader. A missing artifact gives ErrNotFound.
func (s *Store) Open(sha string) (io.ReadCloser, Info, error) {
	if err := checkDigest(sha); err != nil {
		return nil, Info{}, fmt.Errorf("artifact: open: %w", err)
	}
	f, err := os.Open(s.path(sha))
	if err != nil {
		return nil, Info{}, fmt.Errorf("artifact: open %s: %w", sha, notFound(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Info{}, fmt.Errorf("artifact: open %s: %w", sha, err)
	}
	return f, Info{SHA256: sha, Size: fi.Size()}, nil
}

// Path returns the file name of the stored artifact sha, for consumers that
// need a path (a deploy script gets it as SLIPWAY_ARTIFACT). A missing
// artifact gives ErrNotFound.
func (s *Store) Path(sha string) (string, error) {
	if err := checkDigest(sha); err != nil {
		return "", fmt.Errorf("artifact: path: %w", err)
	}
	p := s.path(sha)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("artifact: path %s: %w", sha, notFound(err))
	}
	return p, nil
}

// Delete removes the artifact sha. A missing artifact gives ErrNotFound.
// Release directories unpacked from it are not touched.
func (s *Store) Delete(sha string) error {
	if err := checkDigest(sha); err != nil {
		return fmt.Errorf("artifact: delete: %w", err)
	}
	if err := os.Remove(s.path(sha)); err != nil {
		return fmt.Errorf("artifact: delete %s: %w", sha, notFound(err))
	}
	return nil
}

// UnpackOnce unpacks the artifact sha into baseDir/sha unless that directory
// already exists, and returns the directory. The tree is unpacked into a
// temporary directory under baseDir, checked against the digest as it is
// read, and renamed into place, so baseDir/sha is either absent or complete.
// Concurrent callers, in this process or others, all get the same complete
// directory; when they race, each unpacks and all but the first rename
// discard their copy. Unpack's rules and opts apply.
func (s *Store) UnpackOnce(ctx context.Context, sha, baseDir string, opts ...Option) (string, error) {
	if err := checkDigest(sha); err != nil {
		return "", fmt.Errorf("artifact: unpack once: %w", err)
	}
	final := filepath.Join(baseDir, sha)
	if fi, err := os.Stat(final); err == nil && fi.IsDir() {
		return final, nil
	}
	rc, _, err := s.Open(sha)
	if err != nil {
		return "", fmt.Errorf("artifact: unpack once: %w", err)
	}
	defer rc.Close()
	if err := os.MkdirAll(baseDir, 0o755); err != nil {
		return "", fmt.Errorf("artifact: unpack once: %w", err)
	}
	// The dot keeps temporary directories apart from digests.
	tmp, err := os.MkdirTemp(baseDir, ".unpack-"+sha[:12]+"-")
	if err != nil {
		return "", fmt.Errorf("artifact: unpack once: %w", err)
	}
	defer func() {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	}()
	h := sha256.New()
	in := io.TeeReader(ctxReader{ctx, rc}, h)
	if err := Unpack(in, tmp, opts...); err != nil {
		return "", fmt.Errorf("artifact: unpack once %s: %w", sha, err)
	}
	if _, err := io.Copy(io.Discard, in); err != nil {
		return "", fmt.Errorf("artifact: unpack once %s: %w", sha, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return "", fmt.Errorf("artifact: unpack once %s: stored bytes hash to %s: %w", sha, got, ErrCorrupt)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("artifact: unpack once: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		// Another caller renamed its copy first: use it.
		if fi, serr := os.Stat(final); serr == nil && fi.IsDir() {
			return final, nil
		}
		return "", fmt.Errorf("artifact: unpack once: %w", err)
	}
	tmp = ""
	return final, nil
}

// path is where the artifact sha lives; sha must be valid.
func (s *Store) path(sha string) string {
	return filepath.Join(s.dir, sha[:2], sha+".tar.gz")
}

// checkDigest accepts exactly 64 lower-case hex digits, which also keeps any
// path syntax out of the names built from a digest.
func checkDigest(sha string) error {
	if len(sha) != sha256.Size*2 {
		return fmt.Errorf("%q: %w", sha, ErrInvalidDigest)
	}
	for i := 0; i < len(sha); i++ {
		if c := sha[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%q: %w", sha, ErrInvalidDigest)
		}
	}
	return nil
}

// notFound maps a missing file to ErrNotFound and keeps other errors.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	return err
}

// ctxReader stops a long copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

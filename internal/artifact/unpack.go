package artifact

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Default unpack limits; see MaxBytes and MaxEntries.
const (
	DefaultMaxBytes   = 4 << 30 // 4 GiB of file content
	DefaultMaxEntries = 200_000
)

// Option changes a limit of Unpack or Store.UnpackOnce.
type Option func(*options)

type options struct {
	maxBytes   int64
	maxEntries int
}

// MaxBytes caps the total size of the files an archive may unpack to
// (DefaultMaxBytes if not given); beyond it Unpack fails with ErrUnsafe.
func MaxBytes(n int64) Option { return func(o *options) { o.maxBytes = n } }

// MaxEntries caps the number of entries an archive may hold
// (DefaultMaxEntries if not given); beyond it Unpack fails with ErrUnsafe.
func MaxEntries(n int) Option { return func(o *options) { o.maxEntries = n } }

func newOptions(opts []Option) options {
	o := options{maxBytes: DefaultMaxBytes, maxEntries: DefaultMaxEntries}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Unpack extracts the tar.gz read from r into dest, which must not exist or
// be an empty directory. It accepts directories, regular files, symlinks
// whose target stays inside dest, and hard links to files extracted earlier.
// It refuses, with an error wrapping ErrUnsafe: absolute names, names with
// "..", entries written through a symlink, symlinks that resolve outside dest
// (absolute, or leaving it by ".." even through other links), hard links to
// anything but an earlier regular file, devices, fifos and other special
// types, repeated names, and archives over the size or entry limits.
//
// File modes are normalized to 0755 (any executable bit) or 0644 and
// directories to 0755; owners and times from the archive are ignored. On
// error nothing is left behind: dest is removed if Unpack created it, and
// emptied otherwise.
func Unpack(r io.Reader, dest string, opts ...Option) (err error) {
	o := newOptions(opts)
	created, err := prepareDest(dest)
	if err != nil {
		return fmt.Errorf("artifact: unpack: %w", err)
	}
	defer func() {
		if err != nil {
			clearDest(dest, created)
		}
	}()
	root, err := os.OpenRoot(dest)
	if err != nil {
		return fmt.Errorf("artifact: unpack: %w", err)
	}
	defer root.Close()
	if err := extract(r, root, o); err != nil {
		return fmt.Errorf("artifact: unpack: %w", err)
	}
	return nil
}

// prepareDest makes sure dest is an empty directory and reports whether it
// had to create it.
func prepareDest(dest string) (created bool, err error) {
	fi, err := os.Lstat(dest)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return false, err
		}
		return true, nil
	case err != nil:
		return false, err
	case !fi.IsDir():
		return false, fmt.Errorf("%s: %w", dest, ErrDestNotEmpty)
	}
	entries, err := os.ReadDir(dest)
	if err != nil {
		return false, err
	}
	if len(entries) > 0 {
		return false, fmt.Errorf("%s: %w", dest, ErrDestNotEmpty)
	}
	return false, nil
}

// clearDest undoes a failed Unpack. os.RemoveAll does not follow symlinks, so
// links the archive planted cannot redirect the clean-up.
func clearDest(dest string, created bool) {
	if created {
		_ = os.RemoveAll(dest)
		return
	}
	entries, _ := os.ReadDir(dest)
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(dest, e.Name()))
	}
}

// unsafe builds an ErrUnsafe error about the entry name.
func unsafe(name, format string, args ...any) error {
	return fmt.Errorf("entry %q: %s: %w", name, fmt.Sprintf(format, args...), ErrUnsafe)
}

// extract does the work of Unpack inside root. Every write goes through the
// os.Root, which already refuses to leave dest; the checks here are stricter
// (no write through any symlink, no escaping link at all) and give clear
// errors.
func extract(r io.Reader, root *os.Root, o options) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("read gzip: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	t := tree{"": {kind: kindDir}}
	var total int64
	for count := 1; ; count++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		if count > o.maxEntries {
			return fmt.Errorf("more than %d entries: %w", o.maxEntries, ErrUnsafe)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue // archive-wide PAX metadata, nothing to write
		}
		name, err := entryName(hdr.Name)
		if err != nil {
			return err
		}
		if err := t.checkParents(name); err != nil {
			return err
		}
		if n, ok := t[name]; ok {
			// Only a directory may be named twice (tar writes parents
			// before or after their contents); anything else could be
			// used to replace an entry already checked.
			if n.kind == kindDir && hdr.Typeflag == tar.TypeDir {
				continue
			}
			return unsafe(name, "appears twice in the archive")
		}
		if err := makeParents(root, t, name); err != nil {
			return err
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := mkdir(root, name); err != nil {
				return err
			}
			t[name] = node{kind: kindDir}
		case tar.TypeReg:
			if hdr.Size > o.maxBytes-total {
				return fmt.Errorf("files larger than %d bytes in total: %w", o.maxBytes, ErrUnsafe)
			}
			if err := writeFile(root, name, tr, hdr); err != nil {
				return err
			}
			total += hdr.Size
			t[name] = node{kind: kindFile}
		case tar.TypeSymlink:
			if err := checkLinkTarget(name, hdr.Linkname); err != nil {
				return err
			}
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return err
			}
			t[name] = node{kind: kindLink, target: hdr.Linkname}
		case tar.TypeLink:
			old, err := entryName(hdr.Linkname)
			if err != nil {
				return unsafe(name, "hard link to %q, outside the archive", hdr.Linkname)
			}
			if t[old].kind != kindFile {
				return unsafe(name, "hard link to %q, which is not a regular file earlier in the archive", hdr.Linkname)
			}
			if err := root.Link(old, name); err != nil {
				return err
			}
			t[name] = node{kind: kindFile}
		default:
			return unsafe(name, "entry type %q is not allowed (only files, directories and links)", hdr.Typeflag)
		}
	}
	// Links are checked again on the whole tree: a link that looked local
	// when written may leave dest through a link written after it.
	if err := t.checkLinks(); err != nil {
		return err
	}
	// Read to the end of the gzip stream so its checksum is verified; any
	// trailing data counts against the size limit.
	n, err := io.Copy(io.Discard, io.LimitReader(zr, o.maxBytes-total+1))
	if err != nil {
		return fmt.Errorf("read gzip: %w", err)
	}
	if n > o.maxBytes-total {
		return fmt.Errorf("more than %d bytes: %w", o.maxBytes, ErrUnsafe)
	}
	return nil
}

// entryName validates an archive name and returns it clean, without "./" or
// a trailing slash; "" is dest itself.
func entryName(raw string) (string, error) {
	if raw == "" {
		return "", unsafe(raw, "empty name")
	}
	if strings.HasPrefix(raw, "/") {
		return "", unsafe(raw, "absolute path")
	}
	for _, c := range strings.Split(raw, "/") {
		if c == ".." {
			return "", unsafe(raw, `path with ".."`)
		}
	}
	name := path.Clean(raw)
	if name == "." {
		return "", nil
	}
	if !filepath.IsLocal(name) {
		return "", unsafe(raw, "not a local path")
	}
	return name, nil
}

// checkParents refuses an entry below a symlink or a file. Since dest starts
// empty and every entry is recorded in t, t knows every link on disk.
func (t tree) checkParents(name string) error {
	if name == "" {
		return nil
	}
	for _, dir := range ancestors(name) {
		switch t[dir].kind {
		case kindLink:
			return unsafe(name, "written through the symlink %q", dir)
		case kindFile:
			return unsafe(name, "%q is not a directory", dir)
		}
	}
	return nil
}

// makeParents creates the directories above name that the archive did not
// list (yet).
func makeParents(root *os.Root, t tree, name string) error {
	for _, dir := range ancestors(name) {
		if _, ok := t[dir]; ok {
			continue
		}
		if err := mkdir(root, dir); err != nil {
			return err
		}
		t[dir] = node{kind: kindDir}
	}
	return nil
}

// mkdir creates a directory with mode 0755 whatever the umask.
func mkdir(root *os.Root, name string) error {
	if name == "" {
		return nil
	}
	if err := root.Mkdir(name, 0o755); err != nil {
		return err
	}
	return root.Chmod(name, 0o755)
}

// writeFile creates name exclusively (never through an existing entry) and
// copies the entry's content into it.
func writeFile(root *os.Root, name string, r io.Reader, hdr *tar.Header) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if hdr.Mode&0o111 != 0 {
		mode = 0o755
	}
	_, err = io.Copy(f, r)
	if err == nil {
		// Chmod the descriptor: the umask does not apply, and no name
		// lookup can be raced.
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q: %w", name, err)
	}
	return nil
}

// checkLinkTarget refuses a symlink whose target is absolute or climbs out
// of dest on its own; links through other links are checked by checkLinks.
func checkLinkTarget(name, target string) error {
	if target == "" || path.IsAbs(target) {
		return unsafe(name, "symlink to %q: target must be relative", target)
	}
	if !filepath.IsLocal(path.Join(path.Dir(name), target)) {
		return unsafe(name, "symlink to %q points outside the destination", target)
	}
	return nil
}

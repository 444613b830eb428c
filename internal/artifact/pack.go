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
	"slices"
	"strings"
	"time"
)

// epoch is the modification time of every packed entry.
var epoch = time.Unix(0, 0)

// Pack writes a deterministic tar.gz of paths, each a file or directory
// (taken recursively) relative to root, to w. The same files always give the
// same bytes, whatever their modification times, owners, umask or creation
// order: entries are sorted by name, with mtime 0, uid/gid 0 and no user or
// group names; modes are 0755 for directories and executable files, 0644 for
// other files; symlinks are kept as links; the gzip header has no name or
// time. The parent directories of each path are included, so the archive
// extracts as a tree with any tar.
//
// A path that does not exist gives an error naming it and wrapping
// ErrMissingPath. Absolute paths, "..", special files (devices, fifos,
// sockets) give ErrInvalidPath; a symlink that points outside the packed tree
// gives ErrUnsafe, because Unpack would refuse the archive. Nothing is read
// outside root, even through symlinks. w is not closed.
func Pack(root string, paths []string, w io.Writer) error {
	if len(paths) == 0 {
		return fmt.Errorf("artifact: pack: no paths given: %w", ErrInvalidPath)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return fmt.Errorf("artifact: pack: %w", err)
	}
	defer r.Close()

	t := tree{}
	for _, p := range paths {
		name, err := packName(p)
		if err != nil {
			return fmt.Errorf("artifact: pack: path %q: %w", p, err)
		}
		if err := checkAncestors(r, name); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("artifact: pack: %q: %w", p, ErrMissingPath)
			}
			return fmt.Errorf("artifact: pack: %q: %w", p, err)
		}
		if err := collect(r, t, name); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("artifact: pack: %q: %w", p, ErrMissingPath)
			}
			return fmt.Errorf("artifact: pack: %q: %w", p, err)
		}
		for _, dir := range ancestors(name) {
			if _, ok := t[dir]; !ok {
				t[dir] = node{kind: kindDir}
			}
		}
	}
	delete(t, "") // "." packs the children of root, never root itself
	if err := t.checkLinks(); err != nil {
		return fmt.Errorf("artifact: pack: %w", err)
	}

	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return fmt.Errorf("artifact: pack: %w", err)
	}
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(t))
	for name := range t {
		names = append(names, name)
	}
	// Byte order puts every directory before its contents ("a" < "a/b").
	slices.Sort(names)
	for _, name := range names {
		if err := writeEntry(r, tw, name, t[name]); err != nil {
			return fmt.Errorf("artifact: pack: %q: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("artifact: pack: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("artifact: pack: %w", err)
	}
	return nil
}

// packName validates a path given to Pack and returns its clean slash form,
// "" for the root itself.
func packName(p string) (string, error) {
	if p == "" || path.IsAbs(p) {
		return "", ErrInvalidPath
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return "", ErrInvalidPath
		}
	}
	name := path.Clean(p)
	if name == "." {
		return "", nil
	}
	return name, nil
}

// checkAncestors refuses a path that goes through a symlink: packed as a
// directory it would misrepresent the tree, and packed as a link with entries
// below it the archive would write through a link, which Unpack refuses.
func checkAncestors(r *os.Root, name string) error {
	for _, dir := range ancestors(name) {
		fi, err := r.Lstat(dir)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%q is a symlink; list the path it points to instead: %w", dir, ErrInvalidPath)
		}
	}
	return nil
}

// collect adds name and, for a directory, everything below it to t.
func collect(r *os.Root, t tree, name string) error {
	fi, err := r.Lstat(rootName(name))
	if err != nil {
		return err
	}
	switch mode := fi.Mode(); {
	case mode.IsRegular():
		t[name] = node{kind: kindFile}
	case mode&fs.ModeSymlink != 0:
		target, err := r.Readlink(name)
		if err != nil {
			return err
		}
		t[name] = node{kind: kindLink, target: target}
	case mode.IsDir():
		t[name] = node{kind: kindDir}
		d, err := r.Open(rootName(name))
		if err != nil {
			return err
		}
		entries, err := d.ReadDir(-1)
		d.Close()
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := collect(r, t, path.Join(name, e.Name())); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%q is a %s, which an artifact cannot hold: %w", name, mode.Type(), ErrInvalidPath)
	}
	return nil
}

// rootName maps the tree's root name "" to the os.Root's ".".
func rootName(name string) string {
	if name == "" {
		return "."
	}
	return name
}

// writeEntry writes the header (and for a file, the content) of one entry.
func writeEntry(r *os.Root, tw *tar.Writer, name string, n node) error {
	hdr := &tar.Header{Name: name, ModTime: epoch}
	switch n.kind {
	case kindDir:
		hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, name+"/", 0o755
		return tw.WriteHeader(hdr)
	case kindLink:
		hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, n.target, 0o777
		return tw.WriteHeader(hdr)
	}
	f, err := r.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	// Stat the open file, not the name: what is written is what was opened.
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("changed type while packing: %w", ErrInvalidPath)
	}
	hdr.Typeflag, hdr.Size, hdr.Mode = tar.TypeReg, fi.Size(), 0o644
	if fi.Mode()&0o111 != 0 {
		hdr.Mode = 0o755
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("changed size while packing: %w", err)
	}
	return nil
}

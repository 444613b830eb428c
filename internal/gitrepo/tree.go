package gitrepo

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/slipway-ci/slipway/models"
)

// MaxEditSize is the largest file the web IDE edits; bigger ones open
// read-only.
const MaxEditSize = 1 << 20

// TreeEntry is one entry of a folder at a commit.
type TreeEntry struct {
	Name string
	// Path is the full path from the repository root.
	Path string
	// Type is "blob" (file or symlink), "tree" (folder) or "commit"
	// (submodule).
	Type string
	Mode string
	SHA  string
	// Size is the blob size; -1 for folders and submodules.
	Size int64
}

// Symlink reports whether the entry is a symbolic link.
func (e TreeEntry) Symlink() bool { return e.Mode == "120000" }

// ListTree lists one folder ("" is the root) at commit, folders first,
// then by name. A missing folder gives ErrNotExist.
func ListTree(ctx context.Context, dir, commit, folder string) ([]TreeEntry, error) {
	full, err := ResolveRef(ctx, dir, commit)
	if err != nil {
		return nil, err
	}
	spec := full + "^{tree}"
	if folder != "" {
		if folder, err = CleanPath(folder); err != nil {
			return nil, err
		}
		spec = full + ":" + folder
	}
	inv := readInv(dir)
	if out, err := inv.run(ctx, "cat-file", "-t", "--end-of-options", spec); err != nil || strings.TrimSpace(string(out)) != "tree" {
		return nil, fmt.Errorf("gitrepo: list %q at %s: %w", folder, models.ShortSHA(full), ErrNotExist)
	}
	out, err := inv.run(ctx, "ls-tree", "-z", "--long", "--end-of-options", spec)
	if err != nil {
		return nil, fmt.Errorf("gitrepo: list %q: %w", folder, err)
	}
	var es []TreeEntry
	for _, rec := range bytes.Split(out, []byte{0}) {
		meta, name, ok := strings.Cut(string(rec), "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta)
		if len(f) != 4 {
			continue
		}
		size, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			size = -1
		}
		p := name
		if folder != "" {
			p = folder + "/" + name
		}
		es = append(es, TreeEntry{Name: name, Path: p, Type: f[1], Mode: f[0], SHA: f[2], Size: size})
	}
	sort.SliceStable(es, func(i, j int) bool {
		if (es[i].Type == "tree") != (es[j].Type == "tree") {
			return es[i].Type == "tree"
		}
		return es[i].Name < es[j].Name
	})
	return es, nil
}

// Blob is a file read for the IDE.
type Blob struct {
	Path string
	Mode string
	Size int64
	// Content is empty when the file is binary or over MaxEditSize.
	Content []byte
	// Binary marks content that is not UTF-8 text (or holds NUL bytes).
	Binary bool
	// TooLarge marks a file over MaxEditSize.
	TooLarge bool
	// Symlink marks a link; Content is its target, never followed.
	Symlink bool
}

// ReadBlob reads one file at commit for display and editing.
func ReadBlob(ctx context.Context, dir, commit, name string) (Blob, error) {
	name, err := CleanPath(name)
	if err != nil {
		return Blob{}, err
	}
	full, err := ResolveRef(ctx, dir, commit)
	if err != nil {
		return Blob{}, err
	}
	inv := readInv(dir)
	// One ls-tree gives mode, object and size.
	out, err := inv.run(ctx, "ls-tree", "-z", "--long", "--full-tree", "--end-of-options", full, "--", name)
	if err != nil {
		return Blob{}, fmt.Errorf("gitrepo: read %s: %w", name, err)
	}
	var e entry
	var size int64 = -1
	for _, rec := range bytes.Split(out, []byte{0}) {
		meta, p, ok := strings.Cut(string(rec), "\t")
		if f := strings.Fields(meta); ok && p == name && len(f) == 4 {
			e = entry{mode: f[0], sha: f[2]}
			size, _ = strconv.ParseInt(f[3], 10, 64)
		}
	}
	if e.mode == "040000" {
		return Blob{}, &folderError{name: name}
	}
	if e.mode != "100644" && e.mode != "100755" && e.mode != "120000" {
		return Blob{}, fmt.Errorf("gitrepo: read %s at %s: %w", name, models.ShortSHA(full), ErrNotExist)
	}
	b := Blob{Path: name, Mode: e.mode, Size: size, Symlink: e.mode == "120000"}
	if size > MaxEditSize {
		b.TooLarge = true
		return b, nil
	}
	data, err := inv.run(ctx, "cat-file", "blob", e.sha)
	if err != nil {
		return Blob{}, fmt.Errorf("gitrepo: read %s: %w", name, err)
	}
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		b.Binary = true
		return b, nil
	}
	b.Content = data
	return b, nil
}

// FindPaths returns up to max file paths at commit whose path contains
// every word of query (case-insensitive), shortest first.
func FindPaths(ctx context.Context, dir, commit, query string, max int) ([]string, error) {
	full, err := ResolveRef(ctx, dir, commit)
	if err != nil {
		return nil, err
	}
	out, err := readInv(dir).run(ctx, "ls-tree", "-r", "-z", "--name-only", "--end-of-options", full)
	if err != nil {
		return nil, fmt.Errorf("gitrepo: find: %w", err)
	}
	words := strings.Fields(strings.ToLower(query))
	var hits []string
	for _, rec := range bytes.Split(out, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		low := strings.ToLower(string(rec))
		match := true
		for _, w := range words {
			if !strings.Contains(low, w) {
				match = false
				break
			}
		}
		if match {
			hits = append(hits, string(rec))
		}
	}
	sort.SliceStable(hits, func(i, j int) bool { return len(hits[i]) < len(hits[j]) })
	if len(hits) > max {
		hits = hits[:max]
	}
	return hits, nil
}

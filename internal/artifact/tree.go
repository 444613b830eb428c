package artifact

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// kind is the type of an entry in a tree.
type kind uint8

const (
	kindDir kind = iota + 1
	kindFile
	kindLink
)

// node is one entry of a tree; target is set for symlinks.
type node struct {
	kind   kind
	target string
}

// tree models an artifact by slash-separated relative name ("" is the root),
// so that symlinks can be resolved without touching the file system — the
// same rules whether the tree is about to be packed or has been unpacked.
type tree map[string]node

// maxLinkHops bounds symlink resolution, like the kernel's ELOOP limit.
const maxLinkHops = 40

// checkLinks verifies that every symlink of t resolves inside the tree,
// following the other symlinks of the tree the way the kernel would. A purely
// lexical check is not enough: with "s -> ." the target "s/../x" looks local
// but leaves the tree. Dangling targets are allowed as long as they stay in.
func (t tree) checkLinks() error {
	names := make([]string, 0)
	for name, n := range t {
		if n.kind == kindLink {
			names = append(names, name)
		}
	}
	slices.Sort(names) // report the same link every time
	for _, name := range names {
		if err := t.resolve(name); err != nil {
			return fmt.Errorf("symlink %q -> %q %w", name, t[name].target, err)
		}
	}
	return nil
}

// resolve follows the symlink at name through the tree and returns an error
// when the walk leaves the tree, meets an absolute target, or loops.
func (t tree) resolve(name string) error {
	stack := splitPath(path.Dir(name))
	pending := []string{}
	hops := 0
	expand := func(dir []string, target string) error {
		hops++
		if hops > maxLinkHops {
			return errLinkLoop
		}
		if path.IsAbs(target) || target == "" {
			return errLinkAbsolute
		}
		stack = dir
		pending = append(splitPath(target), pending...)
		return nil
	}
	if err := expand(stack, t[name].target); err != nil {
		return err
	}
	for len(pending) > 0 {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case ".":
		case "..":
			if len(stack) == 0 {
				return errLinkEscapes
			}
			stack = stack[:len(stack)-1]
		default:
			cur := strings.Join(append(stack, c), "/")
			if n, ok := t[cur]; ok && n.kind == kindLink {
				if err := expand(slices.Clone(stack), n.target); err != nil {
					return err
				}
				continue
			}
			stack = append(stack, c)
		}
	}
	return nil
}

// Reasons a symlink is refused; they complete "symlink X -> Y ...".
var (
	errLinkEscapes  = fmt.Errorf("points outside the tree: %w", ErrUnsafe)
	errLinkAbsolute = fmt.Errorf("has an absolute or empty target: %w", ErrUnsafe)
	errLinkLoop     = fmt.Errorf("is part of a symlink loop: %w", ErrUnsafe)
)

// splitPath splits a relative slash path into its components; "" and "."
// give none. Empty components ("a//b") are dropped.
func splitPath(p string) []string {
	if p == "" || p == "." {
		return nil
	}
	parts := strings.Split(p, "/")
	out := parts[:0]
	for _, c := range parts {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// ancestors returns the proper ancestors of a clean relative name, outermost
// first: "a/b/c" gives "a", "a/b".
func ancestors(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			out = append(out, name[:i])
		}
	}
	return out
}

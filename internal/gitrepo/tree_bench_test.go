package gitrepo

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// bigRepo makes a bare repository whose one commit holds n files spread
// over 100 top-level folders (plus README at the root), sharing one blob.
func bigRepo(b *testing.B, n int) (string, string) {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "big.git")
	if err := InitBare(b.Context(), dir, "main"); err != nil {
		b.Fatal(err)
	}
	inv := readInv(dir)
	inv.env = []string{"GIT_INDEX_FILE=" + filepath.Join(b.TempDir(), "index")}
	blobInv := inv
	blobInv.stdin = strings.NewReader("package x\n")
	out, err := blobInv.run(b.Context(), "hash-object", "-w", "--stdin")
	if err != nil {
		b.Fatal(err)
	}
	blob := strings.TrimSpace(string(out))
	var info bytes.Buffer
	fmt.Fprintf(&info, "100644 %s\tREADME\x00", blob)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&info, "100644 %s\tpkg%02d/sub%03d/file%05d.go\x00", blob, i%100, (i/100)%50, i)
	}
	idx := inv
	idx.stdin = &info
	if _, err := idx.run(b.Context(), "update-index", "--add", "-z", "--index-info"); err != nil {
		b.Fatal(err)
	}
	tree, err := inv.run(b.Context(), "write-tree")
	if err != nil {
		b.Fatal(err)
	}
	ci := readInv(dir)
	ci.env = []string{"GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@x", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@x"}
	ci.stdin = strings.NewReader("big\n")
	sha, err := ci.run(b.Context(), "commit-tree", strings.TrimSpace(string(tree)))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := inv.run(b.Context(), "update-ref", "refs/heads/main", strings.TrimSpace(string(sha))); err != nil {
		b.Fatal(err)
	}
	return dir, strings.TrimSpace(string(sha))
}

// BenchmarkListTreeRoot50k opens the root of a 50,000-file tree, as the
// IDE page does (goal: ≤ 200 ms).
func BenchmarkListTreeRoot50k(b *testing.B) {
	dir, _ := bigRepo(b, 50000)
	b.ResetTimer()
	for b.Loop() {
		es, err := ListTree(b.Context(), dir, "main", "")
		if err != nil || len(es) != 101 {
			b.Fatalf("%d entries, %v", len(es), err)
		}
	}
}

// BenchmarkReadBlob opens one file for the editor.
func BenchmarkReadBlob(b *testing.B) {
	dir, _ := bigRepo(b, 1000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := ReadBlob(b.Context(), dir, "main", "pkg01/sub000/file00001.go"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommitFiles makes one one-file commit on a 1,000-file tree.
func BenchmarkCommitFiles(b *testing.B) {
	dir, head := bigRepo(b, 1000)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		res, err := CommitFiles(b.Context(), dir, CommitRequest{Branch: "main", BaseSHA: head, Message: "m",
			Changes: []Change{{Action: ActionUpdate, Path: "README", Content: []byte(fmt.Sprint(i))}}})
		if err != nil {
			b.Fatal(err)
		}
		head = res.SHA
	}
}

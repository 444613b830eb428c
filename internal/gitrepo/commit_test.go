package gitrepo

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func newBare(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "app.git")
	if err := InitBare(t.Context(), dir, "main"); err != nil {
		t.Fatal(err)
	}
	return dir
}

func commitOK(t *testing.T, dir string, req CommitRequest) CommitResult {
	t.Helper()
	if req.Branch == "" {
		req.Branch = "main"
	}
	if req.Message == "" {
		req.Message = "edit"
	}
	res, err := CommitFiles(t.Context(), dir, req)
	if err != nil {
		t.Fatalf("CommitFiles: %v", err)
	}
	return res
}

func readAt(t *testing.T, dir, sha, name string) string {
	t.Helper()
	b, err := ReadFile(t.Context(), dir, sha, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

func TestCommitFiles(t *testing.T) {
	dir := newBare(t)
	first := commitOK(t, dir, CommitRequest{Author: Signature{Name: "Ada <x>", Email: "ada@example.com"},
		Changes: []Change{{Action: ActionCreate, Path: "a.txt", Content: []byte("a1\n")}, {Action: ActionCreate, Path: "src/b.txt", Content: []byte("b1\n")}}})

	t.Run("the first commit of an empty repository is a root commit by the author", func(t *testing.T) {
		c, err := CommitInfo(t.Context(), dir, first.SHA)
		if err != nil || c.AuthorName != "Ada x" || c.AuthorEmail != "ada@example.com" || first.Parent != "" {
			t.Fatalf("%+v %v %+v", c, err, first)
		}
	})

	t.Run("update, move and delete in one commit", func(t *testing.T) {
		r := commitOK(t, dir, CommitRequest{BaseSHA: first.SHA, Changes: []Change{
			{Action: ActionUpdate, Path: "a.txt", Content: []byte("a2\n")},
			{Action: ActionMove, PreviousPath: "src/b.txt", Path: "lib/b.txt"},
			{Action: ActionCreate, Path: "c.txt", Content: []byte{}},
		}})
		if readAt(t, dir, r.SHA, "a.txt") != "a2\n" || readAt(t, dir, r.SHA, "lib/b.txt") != "b1\n" {
			t.Fatal("content wrong")
		}
		if _, err := ReadFile(t.Context(), dir, r.SHA, "src/b.txt"); !errors.Is(err, ErrNotExist) {
			t.Fatalf("moved file still there: %v", err)
		}
		first = r
		r = commitOK(t, dir, CommitRequest{BaseSHA: first.SHA, Changes: []Change{{Action: ActionDelete, Path: "c.txt"}}})
		first = r
	})

	t.Run("a branch that moved on other files is rebased onto automatically", func(t *testing.T) {
		base := first.SHA
		other := commitOK(t, dir, CommitRequest{BaseSHA: base, Changes: []Change{{Action: ActionUpdate, Path: "lib/b.txt", Content: []byte("b2\n")}}})
		r := commitOK(t, dir, CommitRequest{BaseSHA: base, Changes: []Change{{Action: ActionUpdate, Path: "a.txt", Content: []byte("a3\n")}}})
		if !r.Rebased || r.Parent != other.SHA {
			t.Fatalf("not rebased: %+v (other %s)", r, other.SHA)
		}
		if readAt(t, dir, r.SHA, "lib/b.txt") != "b2\n" || readAt(t, dir, r.SHA, "a.txt") != "a3\n" {
			t.Fatal("the rebased commit lost a change")
		}
		first = r
	})

	t.Run("a branch that moved on the same file is a conflict naming it", func(t *testing.T) {
		base := first.SHA
		commitOK(t, dir, CommitRequest{BaseSHA: base, Changes: []Change{{Action: ActionUpdate, Path: "a.txt", Content: []byte("theirs\n")}}})
		_, err := CommitFiles(t.Context(), dir, CommitRequest{Branch: "main", BaseSHA: base, Message: "mine", Changes: []Change{
			{Action: ActionUpdate, Path: "a.txt", Content: []byte("mine\n")},
			{Action: ActionCreate, Path: "new.txt", Content: []byte("x")},
		}})
		var ce *ConflictError
		if !errors.As(err, &ce) || !reflect.DeepEqual(ce.Paths, []string{"a.txt"}) {
			t.Fatalf("want a conflict on a.txt, got %v", err)
		}
		head, _ := RefSHA(t.Context(), dir, "refs/heads/main")
		if readAt(t, dir, head, "a.txt") != "theirs\n" {
			t.Fatal("the conflicting commit overwrote the branch")
		}
		first.SHA = head
	})

	t.Run("a new branch starts at the base and must not exist", func(t *testing.T) {
		r := commitOK(t, dir, CommitRequest{Branch: "feature/x", NewBranch: true, BaseSHA: first.SHA, Changes: []Change{{Action: ActionCreate, Path: "f.txt", Content: []byte("f")}}})
		if r.Parent != first.SHA {
			t.Fatalf("%+v", r)
		}
		_, err := CommitFiles(t.Context(), dir, CommitRequest{Branch: "feature/x", NewBranch: true, BaseSHA: first.SHA, Message: "m", Changes: []Change{{Action: ActionCreate, Path: "g.txt"}}})
		if !errors.Is(err, ErrBranchExists) {
			t.Fatalf("got %v", err)
		}
	})

	bad := map[string]Change{
		"a path with ..":         {Action: ActionCreate, Path: "../x"},
		"an absolute path":       {Action: ActionCreate, Path: "/etc/passwd"},
		"a path inside .git":     {Action: ActionCreate, Path: "x/.GIT/config"},
		"a NUL in a path":        {Action: ActionCreate, Path: "a\x00b"},
		"invalid UTF-8":          {Action: ActionCreate, Path: "a\xffb"},
		"creating what exists":   {Action: ActionCreate, Path: "a.txt"},
		"updating what is not":   {Action: ActionUpdate, Path: "nope.txt"},
		"deleting what is not":   {Action: ActionDelete, Path: "nope.txt"},
		"a file under a file":    {Action: ActionCreate, Path: "a.txt/inner"},
		"an unknown action":      {Action: "chmod", Path: "a.txt"},
		"a change to no content": {Action: ActionUpdate, Path: "a.txt", Content: []byte("theirs\n")},
	}
	for name, c := range bad {
		t.Run("refuses "+name, func(t *testing.T) {
			before, _ := RefSHA(t.Context(), dir, "refs/heads/main")
			_, err := CommitFiles(t.Context(), dir, CommitRequest{Branch: "main", BaseSHA: before, Message: "m", Changes: []Change{c}})
			if !errors.Is(err, ErrInvalidChange) {
				t.Fatalf("got %v", err)
			}
			if after, _ := RefSHA(t.Context(), dir, "refs/heads/main"); after != before {
				t.Fatal("the branch moved")
			}
		})
	}
}

// TestCommitFilesConcurrent commits from many goroutines on one base,
// each to its own file: every commit lands (rebased), none is lost.
func TestCommitFilesConcurrent(t *testing.T) {
	dir := newBare(t)
	base := commitOK(t, dir, CommitRequest{Changes: []Change{{Action: ActionCreate, Path: "README", Content: []byte("x")}}}).SHA
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = CommitFiles(t.Context(), dir, CommitRequest{Branch: "main", BaseSHA: base, Message: "c",
				Changes: []Change{{Action: ActionCreate, Path: fmt.Sprintf("f%d", i), Content: []byte("x")}}})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	head, _ := RefSHA(t.Context(), dir, "refs/heads/main")
	cs, err := Log(t.Context(), dir, "", head, 0)
	if err != nil || len(cs) != n+1 {
		t.Fatalf("history has %d commits, want %d: %v", len(cs), n+1, err)
	}
	for i := range n {
		readAt(t, dir, head, fmt.Sprintf("f%d", i))
	}
	// The same file from two edits on one base: exactly one wins.
	var wins, conflicts int
	var mu sync.Mutex
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := CommitFiles(t.Context(), dir, CommitRequest{Branch: "main", BaseSHA: head, Message: "c",
				Changes: []Change{{Action: ActionUpdate, Path: "README", Content: []byte{byte('a' + i)}}}})
			var ce *ConflictError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.As(err, &ce):
				conflicts++
			default:
				t.Errorf("commit: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || conflicts != 1 {
		t.Fatalf("wins %d conflicts %d, want 1 and 1", wins, conflicts)
	}
}

func TestReadBlobAndListTree(t *testing.T) {
	dir := newBare(t)
	commitOK(t, dir, CommitRequest{Changes: []Change{
		{Action: ActionCreate, Path: "a/b.txt", Content: []byte("hello\n")},
		{Action: ActionCreate, Path: "bin.dat", Content: []byte{0, 1, 2}},
		{Action: ActionCreate, Path: "big.txt", Content: bytes.Repeat([]byte("x"), MaxEditSize+1)},
	}})
	b, err := ReadBlob(t.Context(), dir, "main", "a/b.txt")
	if err != nil || string(b.Content) != "hello\n" || b.Size != 6 || b.Binary || b.TooLarge {
		t.Fatalf("%+v %v", b, err)
	}
	if b, err := ReadBlob(t.Context(), dir, "main", "bin.dat"); err != nil || !b.Binary || len(b.Content) != 0 {
		t.Fatalf("binary: %+v %v", b, err)
	}
	if b, err := ReadBlob(t.Context(), dir, "main", "big.txt"); err != nil || !b.TooLarge || len(b.Content) != 0 {
		t.Fatalf("large: %v", err)
	}
	for _, p := range []string{"a", "nope", "../x", ".git/config"} {
		if _, err := ReadBlob(t.Context(), dir, "main", p); err == nil {
			t.Fatalf("read %q succeeded", p)
		}
	}
	// A folder asked for as a file says so, and still counts as no file
	// for callers that only want files (a .slipway.yml folder).
	for name, read := range map[string]func() error{
		"ReadBlob": func() error { _, err := ReadBlob(t.Context(), dir, "main", "a"); return err },
		"ReadFile": func() error { _, err := ReadFile(t.Context(), dir, "main", "a"); return err },
	} {
		err := read()
		if !errors.Is(err, ErrIsFolder) || !errors.Is(err, ErrNotExist) || !strings.Contains(err.Error(), "a is a folder, not a file") ||
			strings.Contains(err.Error(), "regular file") {
			t.Errorf("%s of a folder: %v", name, err)
		}
	}
	if _, err := ReadFile(t.Context(), dir, "main", "nope"); errors.Is(err, ErrIsFolder) || !errors.Is(err, ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v", err)
	}
	es, err := ListTree(t.Context(), dir, "main", "")
	if err != nil || len(es) != 3 || es[0].Name != "a" || es[0].Type != "tree" {
		t.Fatalf("%+v %v", es, err)
	}
	if _, err := ListTree(t.Context(), dir, "main", "bin.dat"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("listing a file: %v", err)
	}
	hits, err := FindPaths(t.Context(), dir, "main", "B TXT", 10)
	if err != nil || len(hits) != 2 {
		t.Fatalf("%v %v", hits, err)
	}
}

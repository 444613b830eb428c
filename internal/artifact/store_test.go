package artifact

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "artifacts")
	s, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// storedFiles lists every file under dir, leftover temporary files included.
func storedFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestStorePutOpenDelete(t *testing.T) {
	s, dir := newStore(t)
	ctx := context.Background()
	data := []byte("some artifact bytes")
	want := Info{SHA256: sha(data), Size: int64(len(data))}

	for i := range 2 {
		info, err := s.Put(ctx, bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Put #%d: %v", i+1, err)
		}
		if info != want {
			t.Fatalf("Put #%d = %+v, want %+v", i+1, info, want)
		}
	}
	wantFile := filepath.Join(want.SHA256[:2], want.SHA256+".tar.gz")
	if got := storedFiles(t, dir); strings.Join(got, ",") != wantFile {
		t.Fatalf("storing the same bytes twice left %v, want just %s", got, wantFile)
	}

	rc, info, err := s.Open(want.SHA256)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) || info != want {
		t.Fatalf("Open read %q, %+v, %v", got, info, err)
	}
	p, err := s.Path(want.SHA256)
	if err != nil || p != filepath.Join(dir, wantFile) {
		t.Fatalf("Path = %q, %v", p, err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o444 {
		t.Errorf("stored file mode = %v, %v; want read-only", fi.Mode(), err)
	}

	if err := s.Delete(want.SHA256); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, _, err := s.Open(want.SHA256); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open after Delete = %v, want ErrNotFound", err)
	}
	if _, err := s.Path(want.SHA256); !errors.Is(err, ErrNotFound) {
		t.Errorf("Path after Delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(want.SHA256); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
}

func TestStoreRefusesInvalidDigests(t *testing.T) {
	s, _ := newStore(t)
	valid := sha([]byte("x"))
	for _, tt := range []struct{ name, sha string }{
		{"an empty digest is refused", ""},
		{"a short digest is refused", valid[:63]},
		{"a long digest is refused", valid + "0"},
		{"upper-case hex is refused", strings.ToUpper(valid)},
		{"a path is refused", "../" + valid[3:]},
		{"non-hex letters are refused", "g" + valid[1:]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := s.Open(tt.sha); !errors.Is(err, ErrInvalidDigest) {
				t.Errorf("Open = %v", err)
			}
			if _, err := s.Path(tt.sha); !errors.Is(err, ErrInvalidDigest) {
				t.Errorf("Path = %v", err)
			}
			if err := s.Delete(tt.sha); !errors.Is(err, ErrInvalidDigest) {
				t.Errorf("Delete = %v", err)
			}
			if _, err := s.UnpackOnce(context.Background(), tt.sha, t.TempDir()); !errors.Is(err, ErrInvalidDigest) {
				t.Errorf("UnpackOnce = %v", err)
			}
		})
	}
}

func TestStorePutWithCancelledContextStoresNothing(t *testing.T) {
	s, dir := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Put(ctx, strings.NewReader("data")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put = %v, want context.Canceled", err)
	}
	if got := storedFiles(t, dir); len(got) != 0 {
		t.Errorf("store holds %v", got)
	}
}

func TestRoundTripPackPutUnpackOnce(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, appTree, time.Now())
	var buf bytes.Buffer
	if err := Pack(src, []string{"bin", "static"}, &buf); err != nil {
		t.Fatal(err)
	}
	s, _ := newStore(t)
	info, err := s.Put(context.Background(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(t.TempDir(), "releases")
	dir, err := s.UnpackOnce(context.Background(), info.SHA256, base)
	if err != nil {
		t.Fatalf("UnpackOnce: %v", err)
	}
	if dir != filepath.Join(base, info.SHA256) {
		t.Errorf("UnpackOnce = %s", dir)
	}
	want := map[string]string{
		"bin":                 "dir -rwxr-xr-x",
		"bin/app":             "file -rwxr-xr-x #!/bin/sh\necho app\n",
		"bin/helper":          "file -rwxr-xr-x helper",
		"static":              "dir -rwxr-xr-x",
		"static/index.html":   "file -rw-r--r-- <h1>hi</h1>",
		"static/css":          "dir -rwxr-xr-x",
		"static/css/site.css": "file -rw-r--r-- body{}",
		"static/empty":        "dir -rwxr-xr-x",
		"static/latest.css":   "link -> css/site.css",
		"static/assets":       "link -> css",
	}
	got := snapshot(t, dir)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("unpacked %v, want %d entries", got, len(want))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "static/assets/site.css")); err != nil || string(b) != "body{}" {
		t.Errorf("reading through the in-tree directory link: %q, %v", b, err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("release directory mode %v, %v", fi.Mode(), err)
	}

	// A second call finds the directory and does not unpack again: a marker
	// left in it survives.
	marker := filepath.Join(dir, "marker")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if again, err := s.UnpackOnce(context.Background(), info.SHA256, base); err != nil || again != dir {
		t.Fatalf("second UnpackOnce = %s, %v", again, err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("second UnpackOnce replaced the directory: %v", err)
	}
}

func TestUnpackOnceConcurrently(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, appTree, time.Now())
	s, _ := newStore(t)
	info, err := s.Put(context.Background(), bytes.NewReader(pack(t, src, "bin", "static")))
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(t.TempDir(), "releases")
	const callers = 8
	dirs := make([]string, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			dirs[i], errs[i] = s.UnpackOnce(context.Background(), info.SHA256, base)
		})
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || dirs[i] != filepath.Join(base, info.SHA256) {
			t.Errorf("caller %d: %s, %v", i, dirs[i], errs[i])
		}
	}
	if got := listDir(t, base); strings.Join(got, ",") != info.SHA256 {
		t.Errorf("base holds %v, want only the release directory", got)
	}
	if got := snapshot(t, dirs[0]); got["bin/app"] != "file -rwxr-xr-x #!/bin/sh\necho app\n" {
		t.Errorf("unpacked tree %v", got)
	}
}

func TestUnpackOnceFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("a digest the store lacks is not found", func(t *testing.T) {
		s, _ := newStore(t)
		base := t.TempDir()
		if _, err := s.UnpackOnce(ctx, sha([]byte("nothing")), base); !errors.Is(err, ErrNotFound) {
			t.Fatalf("UnpackOnce = %v, want ErrNotFound", err)
		}
		if got := listDir(t, base); len(got) != 0 {
			t.Errorf("base holds %v", got)
		}
	})
	t.Run("stored bytes that no longer match their digest are corrupt", func(t *testing.T) {
		s, _ := newStore(t)
		info, err := s.Put(ctx, bytes.NewReader(archive(t, reg("a", "original"))))
		if err != nil {
			t.Fatal(err)
		}
		p, _ := s.Path(info.SHA256)
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, archive(t, reg("a", "tampered")), 0o644); err != nil {
			t.Fatal(err)
		}
		base := t.TempDir()
		if _, err := s.UnpackOnce(ctx, info.SHA256, base); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("UnpackOnce = %v, want ErrCorrupt", err)
		}
		if got := listDir(t, base); len(got) != 0 {
			t.Errorf("base holds %v after a corrupt unpack", got)
		}
	})
	t.Run("an unsafe stored archive leaves no directory", func(t *testing.T) {
		s, _ := newStore(t)
		info, err := s.Put(ctx, bytes.NewReader(archive(t, symlink("x", "/etc"))))
		if err != nil {
			t.Fatal(err)
		}
		base := t.TempDir()
		if _, err := s.UnpackOnce(ctx, info.SHA256, base); !errors.Is(err, ErrUnsafe) {
			t.Fatalf("UnpackOnce = %v, want ErrUnsafe", err)
		}
		if got := listDir(t, base); len(got) != 0 {
			t.Errorf("base holds %v", got)
		}
	})
	t.Run("a cancelled context stops the unpack", func(t *testing.T) {
		s, _ := newStore(t)
		info, err := s.Put(ctx, bytes.NewReader(archive(t, reg("a", "x"))))
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		base := t.TempDir()
		if _, err := s.UnpackOnce(cctx, info.SHA256, base); !errors.Is(err, context.Canceled) {
			t.Fatalf("UnpackOnce = %v, want context.Canceled", err)
		}
		if got := listDir(t, base); len(got) != 0 {
			t.Errorf("base holds %v", got)
		}
	})
}

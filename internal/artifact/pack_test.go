package artifact

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// appTree is a small build output: an executable, static files, a nested
// directory, in-tree symlinks to a file and to a directory.
var appTree = []file{
	{name: "bin/app", content: "#!/bin/sh\necho app\n", mode: 0o755},
	{name: "bin/helper", content: "helper", mode: 0o700},
	{name: "static/index.html", content: "<h1>hi</h1>", mode: 0o644},
	{name: "static/css/site.css", content: "body{}", mode: 0o600},
	{name: "static/empty", dir: true},
	{name: "static/latest.css", link: "css/site.css"},
	{name: "static/assets", link: "css"},
	{name: "README", content: "not packed", mode: 0o644},
}

func TestPackIsDeterministic(t *testing.T) {
	a := t.TempDir()
	writeTree(t, a, appTree, time.Now())

	// The same files created in reverse order, with other permission bits
	// (as another umask would give) and other times.
	b := t.TempDir()
	reversed := make([]file, len(appTree))
	for i, f := range appTree {
		switch f.mode {
		case 0o600:
			f.mode = 0o644
		case 0o644:
			f.mode = 0o640
		case 0o700:
			f.mode = 0o775
		case 0o755:
			f.mode = 0o711
		}
		reversed[len(appTree)-1-i] = f
	}
	writeTree(t, b, reversed, time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC))

	want := sha(pack(t, a, "bin/app", "bin/helper", "static/"))
	tests := []struct {
		name  string
		root  string
		paths []string
	}{
		{"packing the same tree twice gives the same digest", a, []string{"bin/app", "bin/helper", "static/"}},
		{"another creation order, umask and mtimes give the same digest", b, []string{"bin/app", "bin/helper", "static/"}},
		{"the order of the paths does not matter", a, []string{"static", "bin/helper", "bin/app"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sha(pack(t, tt.root, tt.paths...)); got != want {
				t.Errorf("digest %s, want %s", got, want)
			}
		})
	}
}

func TestPackDigestFollowsContent(t *testing.T) {
	base := sha(packTree(t, appTree))
	tests := []struct {
		name   string
		change func(files []file) []file
	}{
		{"one changed byte gives another digest", func(fs []file) []file {
			fs[2].content = "<h1>hI</h1>"
			return fs
		}},
		{"a lost executable bit gives another digest", func(fs []file) []file {
			fs[0].mode = 0o644
			return fs
		}},
		{"another symlink target gives another digest", func(fs []file) []file {
			fs[5].link = "../static/css/site.css"
			return fs
		}},
		{"an extra empty directory gives another digest", func(fs []file) []file {
			return append(fs, file{name: "static/more", dir: true})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := tt.change(append([]file(nil), appTree...))
			if got := sha(packTree(t, files)); got == base {
				t.Errorf("digest did not change")
			}
		})
	}
}

// packTree writes files into a new directory and packs bin and static.
func packTree(t *testing.T, files []file) []byte {
	t.Helper()
	root := t.TempDir()
	writeTree(t, root, files, time.Now())
	return pack(t, root, "bin", "static")
}

func TestPackWritesNormalizedHeaders(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, appTree, time.Now())
	data := pack(t, root, "static/css/site.css", "bin")

	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() || zr.Comment != "" {
		t.Errorf("gzip header has name %q, mtime %v, comment %q", zr.Name, zr.ModTime, zr.Comment)
	}
	tr := tar.NewReader(zr)
	var got []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !hdr.ModTime.Equal(time.Unix(0, 0)) || hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" {
			t.Errorf("%s: mtime %v uid %d gid %d uname %q gname %q", hdr.Name, hdr.ModTime, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname)
		}
		got = append(got, string(hdr.Typeflag)+" "+hdr.Name+" "+os.FileMode(hdr.Mode).String())
	}
	want := []string{
		"5 bin/ -rwxr-xr-x",
		"0 bin/app -rwxr-xr-x",
		"0 bin/helper -rwxr-xr-x",
		"5 static/ -rwxr-xr-x",
		"5 static/css/ -rwxr-xr-x",
		"0 static/css/site.css -rw-r--r--",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPackRefusals(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, append([]file{
		{name: "out/etc", link: "/etc"},
		{name: "out/up", link: "../../x"},
		{name: "via/real/f", content: "x", mode: 0o644},
		{name: "via/link", link: "real"},
	}, appTree...), time.Now())
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		paths   []string
		wantErr error
		wantMsg string
	}{
		{"a missing path is named in the error", []string{"bin", "dist/app.js"}, ErrMissingPath, `"dist/app.js"`},
		{"a path under a missing directory is missing", []string{"nope/app"}, ErrMissingPath, `"nope/app"`},
		{"an absolute path is refused", []string{"/etc/passwd"}, ErrInvalidPath, `"/etc/passwd"`},
		{"a path with .. is refused", []string{"bin/../../x"}, ErrInvalidPath, `"bin/../../x"`},
		{"no paths at all is refused", nil, ErrInvalidPath, "no paths"},
		{"a fifo is refused", []string{"fifo"}, ErrInvalidPath, `"fifo"`},
		{"an absolute symlink is refused", []string{"out/etc"}, ErrUnsafe, `"out/etc" -> "/etc"`},
		{"a symlink climbing out of the artifact is refused", []string{"out/up"}, ErrUnsafe, `"out/up" -> "../../x"`},
		{"a path through a symlink is refused", []string{"via/link/f"}, ErrInvalidPath, `"via/link" is a symlink`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Pack(root, tt.paths, io.Discard)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Pack(%v) = %v, want %v", tt.paths, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %s", err, tt.wantMsg)
			}
		})
	}
}

func TestPackOfTheWholeRootHasNoRootEntry(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, []file{{name: "a", content: "a", mode: 0o644}}, time.Now())
	dest := filepath.Join(t.TempDir(), "out")
	if err := Unpack(bytes.NewReader(pack(t, root, ".")), dest); err != nil {
		t.Fatal(err)
	}
	if got := snapshot(t, dest); len(got) != 1 || got["a"] != "file -rw-r--r-- a" {
		t.Errorf("unpacked %v", got)
	}
}

package artifact

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnpackRefusesUnsafeArchives(t *testing.T) {
	// A name no one else uses, for the cases that aim at /etc.
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	etcName := "slipway-unpack-test-" + hex.EncodeToString(b[:])
	t.Cleanup(func() { os.Remove(filepath.Join("/etc", etcName)) })

	tests := []struct {
		name    string
		entries func(outside string) []entry
		wantMsg string
	}{
		{"an absolute path is refused", func(outside string) []entry {
			return []entry{reg(filepath.Join(outside, "abs"), "x")}
		}, "absolute path"},
		{"a ../ path is refused", func(string) []entry {
			return []entry{reg("../outside/x", "x")}
		}, `".."`},
		{"a .. hidden in the middle of a path is refused", func(string) []entry {
			return []entry{dirEntry("a/"), reg("a/../../outside/x", "x")}
		}, `".."`},
		{"a symlink to /etc and a file written through it are refused", func(string) []entry {
			return []entry{symlink("etc", "/etc"), reg("etc/"+etcName, "pwned")}
		}, "target must be relative"},
		{"a symlink to an outside directory is refused", func(outside string) []entry {
			return []entry{symlink("out", outside), reg("out/x", "pwned")}
		}, "target must be relative"},
		{"a symlink climbing out with .. is refused", func(string) []entry {
			return []entry{dirEntry("a/"), symlink("a/up", "../../x")}
		}, "points outside the destination"},
		{"a file written through an in-tree symlink is refused", func(string) []entry {
			return []entry{dirEntry("real/"), symlink("link", "real"), reg("link/x", "x")}
		}, `written through the symlink "link"`},
		{"a link that escapes only through another link is refused", func(string) []entry {
			// Lexically "s/../outside" is "outside", inside; but s is
			// dest itself, so s/.. is dest's parent.
			return []entry{symlink("t", "s/../outside/x"), symlink("s", ".")}
		}, `symlink "t" -> "s/../outside/x" points outside the tree`},
		{"a symlink loop is refused", func(string) []entry {
			return []entry{symlink("a", "b"), symlink("b", "a")}
		}, "symlink loop"},
		{"a hard link outside is refused", func(string) []entry {
			return []entry{hardlink("h", "../outside/secret")}
		}, "hard link"},
		{"a hard link to an absolute path is refused", func(string) []entry {
			return []entry{hardlink("h", "/etc/passwd")}
		}, "hard link"},
		{"a hard link to a file not in the archive is refused", func(string) []entry {
			return []entry{hardlink("h", "missing")}
		}, "not a regular file earlier in the archive"},
		{"a hard link to a symlink is refused", func(string) []entry {
			return []entry{symlink("s", "x"), hardlink("h", "s")}
		}, "not a regular file earlier in the archive"},
		{"a character device is refused", func(string) []entry {
			return []entry{{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "null", Devmajor: 1, Devminor: 3}}}
		}, "not allowed"},
		{"a block device is refused", func(string) []entry {
			return []entry{{hdr: tar.Header{Typeflag: tar.TypeBlock, Name: "sda", Devmajor: 8}}}
		}, "not allowed"},
		{"a fifo is refused", func(string) []entry {
			return []entry{{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "fifo"}}}
		}, "not allowed"},
		{"a file replacing a symlink is refused", func(string) []entry {
			return []entry{symlink("a", "b"), reg("a", "x")}
		}, "appears twice"},
		{"a file written twice is refused", func(string) []entry {
			return []entry{reg("a", "x"), reg("a", "y")}
		}, "appears twice"},
		{"an entry below a file is refused", func(string) []entry {
			return []entry{reg("a", "x"), reg("a/b", "y")}
		}, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			outside := filepath.Join(parent, "outside")
			if err := os.Mkdir(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(parent, "dest")

			err := Unpack(bytes.NewReader(archive(t, tt.entries(outside)...)), dest)
			if !errors.Is(err, ErrUnsafe) {
				t.Fatalf("Unpack = %v, want ErrUnsafe", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
			if got := listDir(t, parent); strings.Join(got, ",") != "outside" {
				t.Errorf("after a refused unpack the parent holds %v, want only outside", got)
			}
			if got := listDir(t, outside); strings.Join(got, ",") != "secret" {
				t.Errorf("something was written outside dest: %v", got)
			}
			if _, err := os.Lstat(filepath.Join("/etc", etcName)); !os.IsNotExist(err) {
				t.Errorf("a file was written into /etc: %v", err)
			}
		})
	}
}

func TestUnpackLimits(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		opts    []Option
		wantErr error
	}{
		{"more entries than allowed are refused",
			archive(t, reg("a", "1"), reg("b", "2"), reg("c", "3")), []Option{MaxEntries(2)}, ErrUnsafe},
		{"exactly the allowed entries pass",
			archive(t, reg("a", "1"), reg("b", "2")), []Option{MaxEntries(2)}, nil},
		{"more bytes than allowed are refused",
			archive(t, reg("a", "12345"), reg("b", "67890")), []Option{MaxBytes(9)}, ErrUnsafe},
		{"exactly the allowed bytes pass",
			archive(t, reg("a", "12345"), reg("b", "67890")), []Option{MaxBytes(10)}, nil},
		{"data after the tar end counts against the limit",
			appendGzip(t, archive(t, reg("a", "12345")), strings.Repeat("z", 100)), []Option{MaxBytes(50)}, ErrUnsafe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Unpack(bytes.NewReader(tt.data), filepath.Join(t.TempDir(), "d"), tt.opts...)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Unpack = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// appendGzip appends a second gzip member holding junk to a tar.gz, which
// gzip readers treat as more of the same stream.
func appendGzip(t *testing.T, data []byte, junk string) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.Write(data)
	buf.Write(gzipBytes(t, []byte(junk)))
	return buf.Bytes()
}

func TestUnpackAcceptsOrdinaryArchives(t *testing.T) {
	data := archive(t,
		reg("./bin/app", "#!/bin/sh\n"), // "./" prefix, parent not listed
		entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "bin/tool", Mode: 0o4711}, body: "tool"},
		dirEntry("bin/"), // a directory after its contents
		dirEntry("./"),   // the root itself
		symlink("current", "bin/app"),
		symlink("bin/self", "."),
		symlink("bin/up", "../bin/app"),
		symlink("dangling", "not/yet"),
		hardlink("bin/app2", "bin/app"),
		entry{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "x"}}},
	)
	dest := filepath.Join(t.TempDir(), "d")
	if err := Unpack(bytes.NewReader(data), dest); err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	want := map[string]string{
		"bin":      "dir -rwxr-xr-x",
		"bin/app":  "file -rw-r--r-- #!/bin/sh\n",
		"bin/app2": "file -rw-r--r-- #!/bin/sh\n",
		"bin/tool": "file -rwxr-xr-x tool", // setuid dropped
		"bin/self": "link -> .",
		"bin/up":   "link -> ../bin/app",
		"current":  "link -> bin/app",
		"dangling": "link -> not/yet",
	}
	got := snapshot(t, dest)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("unpacked %d entries, want %d: %v", len(got), len(want), got)
	}
}

func TestUnpackDestination(t *testing.T) {
	data := archive(t, reg("a", "x"))
	t.Run("an existing empty directory is used", func(t *testing.T) {
		dest := t.TempDir()
		if err := Unpack(bytes.NewReader(data), dest); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a directory with content is refused and left alone", func(t *testing.T) {
		dest := t.TempDir()
		if err := os.WriteFile(filepath.Join(dest, "keep"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := Unpack(bytes.NewReader(data), dest); !errors.Is(err, ErrDestNotEmpty) {
			t.Fatalf("Unpack = %v, want ErrDestNotEmpty", err)
		}
		if got := listDir(t, dest); strings.Join(got, ",") != "keep" {
			t.Errorf("dest holds %v", got)
		}
	})
	t.Run("a failed unpack into an existing directory empties it but keeps it", func(t *testing.T) {
		dest := t.TempDir()
		err := Unpack(bytes.NewReader(archive(t, reg("a", "x"), reg("../b", "y"))), dest)
		if !errors.Is(err, ErrUnsafe) {
			t.Fatalf("Unpack = %v, want ErrUnsafe", err)
		}
		if got := listDir(t, dest); len(got) != 0 {
			t.Errorf("dest holds %v", got)
		}
	})
	t.Run("bytes that are not gzip are an error", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "d")
		if err := Unpack(strings.NewReader("not an archive"), dest); err == nil {
			t.Fatal("Unpack succeeded")
		}
		if _, err := os.Stat(dest); !os.IsNotExist(err) {
			t.Errorf("dest left behind: %v", err)
		}
	})
	t.Run("a truncated archive is an error", func(t *testing.T) {
		full := archive(t, reg("a", strings.Repeat("x", 10000)))
		dest := filepath.Join(t.TempDir(), "d")
		if err := Unpack(bytes.NewReader(full[:len(full)-10]), dest); err == nil {
			t.Fatal("Unpack succeeded")
		}
	})
}

package artifact

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzUnpack feeds Unpack arbitrary tar streams (gzipped here, so that the
// fuzzer mutates tar headers rather than compressed bytes) and checks that
// nothing ever lands outside dest and that every link left in dest resolves
// inside it.
func FuzzUnpack(f *testing.F) {
	seeds := [][]entry{
		{reg("a", "x"), symlink("l", "a"), hardlink("h", "a"), dirEntry("d/"), reg("d/f", "y")},
		{symlink("t", "s/../outside/x"), symlink("s", ".")},
		{symlink("etc", "/etc"), reg("etc/x", "x")},
		{reg("../x", "x")},
		{dirEntry("real/"), symlink("link", "real"), reg("link/x", "x")},
	}
	for _, s := range seeds {
		f.Add(gunzip(f, archive(f, s...)))
	}
	f.Fuzz(func(t *testing.T, tarBytes []byte) {
		parent := t.TempDir()
		dest := filepath.Join(parent, "dest")
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(tarBytes)
		zw.Close()

		err := Unpack(&gz, dest, MaxBytes(1<<20), MaxEntries(1000))
		if got := listDir(t, parent); len(got) > 1 || (len(got) == 1 && got[0] != "dest") {
			t.Fatalf("Unpack wrote outside dest: %v", got)
		}
		if err != nil {
			if _, serr := os.Stat(dest); !errors.Is(serr, fs.ErrNotExist) {
				t.Fatalf("failed Unpack (%v) left dest behind", err)
			}
			return
		}
		realDest, _ := filepath.EvalSymlinks(dest)
		filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.Type()&fs.ModeSymlink == 0 {
				return nil
			}
			resolved, err := filepath.EvalSymlinks(p)
			if err != nil {
				return nil // dangling inside the tree is allowed
			}
			if resolved != realDest && !strings.HasPrefix(resolved, realDest+string(filepath.Separator)) {
				t.Fatalf("link %s resolves to %s, outside %s", p, resolved, realDest)
			}
			return nil
		})
	})
}

func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

package runner

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf8"
)

// collect writes the chunks to a fresh line writer and returns its lines.
func collect(t testing.TB, secrets []string, maxLine int, chunks ...string) []string {
	t.Helper()
	var lines []string
	w := NewLineWriter(secrets, maxLine, func(s string) { lines = append(lines, s) })
	for _, c := range chunks {
		if _, err := w.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestLineWriterSplitsLines(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   []string
	}{
		{"newline-terminated lines are emitted without the newline", []string{"a\nb\n"}, []string{"a", "b"}},
		{"a last line without newline is emitted on close", []string{"a\nb"}, []string{"a", "b"}},
		{"empty lines are kept", []string{"a\n\n\nb\n"}, []string{"a", "", "", "b"}},
		{"CR-LF is stripped", []string{"a\r\nb\r\n"}, []string{"a", "b"}},
		{"CR-LF split across writes is one line end", []string{"a\r", "\nb\n"}, []string{"a", "b"}},
		{"an empty CR-LF line is one empty line", []string{"a\n\r\nb\n"}, []string{"a", "", "b"}},
		{"a lone CR ends a progress update", []string{"10%\r20%\r30%\n"}, []string{"10%", "20%", "30%"}},
		{"repeated CRs do not make empty lines", []string{"x\r\r\ry\n"}, []string{"x", "y"}},
		{"a line split over many writes is one line", []string{"he", "ll", "o\n"}, []string{"hello"}},
		{"nothing written emits nothing", nil, nil},
		{"invalid UTF-8 is replaced", []string{"ok \xff\xfe end\n"}, []string{"ok \uFFFD end"}},
		{"NUL bytes are replaced", []string{"a\x00b\n"}, []string{"a\uFFFDb"}},
		{"escape sequences for colours are kept", []string{"\x1b[31mred\x1b[0m\n"}, []string{"\x1b[31mred\x1b[0m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := collect(t, nil, 0, tt.chunks...)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Fatalf("lines = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLineWriterMasksSecrets(t *testing.T) {
	const secret = "hunter2-sup3r"
	b64 := func(enc *base64.Encoding, s string) string { return enc.EncodeToString([]byte(s)) }
	tests := []struct {
		name, in string
	}{
		{"the plain value", "token=" + secret + " ok"},
		{"standard base64", "auth " + b64(base64.StdEncoding, secret)},
		{"unpadded base64", "auth " + b64(base64.RawStdEncoding, secret) + "."},
		{"URL-safe base64", "auth " + b64(base64.URLEncoding, secret)},
		{"unpadded URL-safe base64", "auth " + b64(base64.RawURLEncoding, secret) + "."},
		{"base64 of the value and a newline, as echo | base64 makes it", b64(base64.StdEncoding, secret+"\n")},
		{"the value twice", secret + secret},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is masked", func(t *testing.T) {
			got := strings.Join(collect(t, []string{secret}, 0, tt.in+"\n"), "\n")
			for _, leak := range []string{secret, b64(base64.RawStdEncoding, secret), b64(base64.RawURLEncoding, secret)} {
				if strings.Contains(got, leak) {
					t.Fatalf("output %q leaks %q", got, leak)
				}
			}
			if !strings.Contains(got, Mask) {
				t.Fatalf("output %q has no mask", got)
			}
		})
	}
	t.Run("a secret shorter than four bytes is not masked", func(t *testing.T) {
		got := collect(t, []string{"abc"}, 0, "abc abcd\n")
		if got[0] != "abc abcd" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("each line of a multi-line secret is masked", func(t *testing.T) {
		key := "-----BEGIN KEY-----\nAAAAB3NzaC1yc2E\n-----END KEY-----\n"
		got := strings.Join(collect(t, []string{key}, 0, key), "\n")
		if strings.Contains(got, "AAAAB3NzaC1yc2E") {
			t.Fatalf("output %q leaks a line of the key", got)
		}
	})
	t.Run("a secret across a forced line split is masked", func(t *testing.T) {
		for pad := 0; pad < len(secret)+2; pad++ {
			in := strings.Repeat("x", 64-pad) + secret + strings.Repeat("y", 100)
			got := collect(t, []string{secret}, 64, in)
			joined := strings.Join(got, "")
			if strings.Contains(joined, secret) || !strings.Contains(joined, Mask) {
				t.Fatalf("pad %d: lines %q leak or lose the secret", pad, got)
			}
			for _, l := range got {
				if strings.Contains(l, secret[:4]) {
					t.Fatalf("pad %d: part of the secret in %q", pad, l)
				}
			}
		}
	})
}

func TestLineWriterCutsLongLines(t *testing.T) {
	t.Run("a long line is cut into pieces of at most max bytes and nothing is lost", func(t *testing.T) {
		in := strings.Repeat("0123456789", 1000) // 10,000 bytes
		got := collect(t, nil, 256, in+"\nnext\n")
		if got[len(got)-1] != "next" {
			t.Fatalf("last line %q, want next", got[len(got)-1])
		}
		pieces := got[:len(got)-1]
		for _, p := range pieces {
			if len(p) > 256 {
				t.Fatalf("piece of %d bytes", len(p))
			}
		}
		if strings.Join(pieces, "") != in {
			t.Fatal("pieces do not add up to the line")
		}
	})
	t.Run("a cut never splits a UTF-8 character", func(t *testing.T) {
		in := strings.Repeat("日本語", 500) // 3-byte characters
		got := collect(t, nil, 100, in)
		for _, p := range got {
			if !utf8.ValidString(p) || strings.ContainsRune(p, utf8.RuneError) {
				t.Fatalf("piece %q is not clean UTF-8", p)
			}
		}
		if strings.Join(got, "") != in {
			t.Fatal("pieces do not add up to the line")
		}
	})
	t.Run("a line of exactly max bytes is one line", func(t *testing.T) {
		got := collect(t, nil, 64, strings.Repeat("a", 64)+"\n")
		if len(got) != 1 {
			t.Fatalf("got %d lines, want 1", len(got))
		}
	})
	t.Run("memory stays bounded for a 5 MB line written at once", func(t *testing.T) {
		var n, total int
		w := newLineWriter(newMasker([]string{"secret-value"}), 0, func(s string) { n++; total += len(s) })
		if _, err := w.Write(bytes.Repeat([]byte("z"), 5<<20)); err != nil {
			t.Fatal(err)
		}
		if c := cap(w.buf); c > 2*DefaultMaxLineBytes {
			t.Fatalf("buffer grew to %d bytes", c)
		}
		_ = w.Close()
		if total != 5<<20 || n < (5<<20)/DefaultMaxLineBytes {
			t.Fatalf("%d lines with %d bytes, want all 5 MiB in pieces", n, total)
		}
	})
	t.Run("writes after close fail", func(t *testing.T) {
		w := NewLineWriter(nil, 0, func(string) {})
		_ = w.Close()
		if _, err := w.Write([]byte("x")); err == nil {
			t.Fatal("write after close succeeded")
		}
	})
}

func BenchmarkLineWriter(b *testing.B) {
	line := []byte(strings.Repeat("compiling package github.com/acme/app/internal/thing ", 2) + "\n")
	block := bytes.Repeat(line, 32<<10/len(line))
	for _, bc := range []struct {
		name    string
		secrets []string
	}{
		{"no secrets", nil},
		{"three secrets", []string{"hunter2-sup3r", "AKIAIOSFODNN7EXAMPLE", "ghp_0123456789abcdefghijklmnopqrstuvwxyz"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := NewLineWriter(bc.secrets, 0, func(string) {})
			b.SetBytes(int64(len(block)))
			for b.Loop() {
				if _, err := w.Write(block); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package secretbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func testBox(t *testing.T) *Box {
	t.Helper()
	key, err := DecodeKey(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpenRoundTrip(t *testing.T) {
	b := testBox(t)
	for _, tc := range []struct {
		name      string
		plaintext []byte
	}{
		{"an empty secret survives", []byte{}},
		{"a short secret survives", []byte("hunter2")},
		{"a deploy key survives", bytes.Repeat([]byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"), 100)},
		{"binary data survives", []byte{0, 1, 2, 255, 254}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ad := []byte("projects.deploy_key:app")
			sealed := b.Seal(tc.plaintext, ad)
			if len(tc.plaintext) > 4 && bytes.Contains(sealed, tc.plaintext) {
				t.Fatal("sealed value contains the plaintext")
			}
			if sealed[0] != currentVersion {
				t.Fatalf("version byte = %d, want %d", sealed[0], currentVersion)
			}
			got, err := b.Open(sealed, ad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.plaintext) {
				t.Fatalf("opened %q, want %q", got, tc.plaintext)
			}
		})
	}
}

func TestSealUsesAFreshNonceEachTime(t *testing.T) {
	b := testBox(t)
	x, y := b.Seal([]byte("same"), nil), b.Seal([]byte("same"), nil)
	if bytes.Equal(x, y) {
		t.Fatal("two seals of the same value are identical")
	}
}

func TestOpenRefusesWhatItShould(t *testing.T) {
	b := testBox(t)
	other := testBox(t)
	ad := []byte("projects.webhook_secret:app")
	sealed := b.Seal([]byte("s3cret"), ad)
	flip := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 0x01
		return c
	}
	for _, tc := range []struct {
		name   string
		box    *Box
		sealed []byte
		ad     []byte
		want   error
	}{
		{"a flipped ciphertext bit is detected", b, flip(len(sealed) - 20), ad, ErrOpen},
		{"a flipped tag bit is detected", b, flip(len(sealed) - 1), ad, ErrOpen},
		{"a flipped nonce bit is detected", b, flip(3), ad, ErrOpen},
		{"a truncated value is refused", b, sealed[:len(sealed)-1], ad, ErrOpen},
		{"a too short value is refused", b, sealed[:10], ad, ErrOpen},
		{"nil is refused", b, nil, ad, ErrOpen},
		{"other additional data is refused", b, sealed, []byte("projects.webhook_secret:other"), ErrOpen},
		{"missing additional data is refused", b, sealed, nil, ErrOpen},
		{"another key is refused", other, sealed, ad, ErrOpen},
		{"an unknown key version is refused", b, append([]byte{9}, sealed[1:]...), ad, ErrUnknownVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.box.Open(tc.sealed, tc.ad)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %q, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestDecodeKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"a padded standard key is accepted", NewKey(), true},
		{"a key with a trailing newline is accepted", NewKey() + "\n", true},
		{"an unpadded URL-safe key is accepted", "_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-8", true},
		{"a 16-byte key is refused", "AAAAAAAAAAAAAAAAAAAAAA==", false},
		{"text that is not base64 is refused", "not a key!", false},
		{"an empty key is refused", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := DecodeKey(tc.in)
			if tc.ok && (err != nil || len(k) != KeySize) {
				t.Fatalf("DecodeKey = %d bytes, %v", len(k), err)
			}
			if !tc.ok && !errors.Is(err, ErrBadKey) {
				t.Fatalf("DecodeKey = %v, want ErrBadKey", err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	t.Run("the first start creates a 0600 key file and later starts reuse it", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		b1, origin, err := Load(Source{Dir: dir, Create: true})
		if err != nil || origin != FromNewFile {
			t.Fatalf("Load = %v, %v", origin, err)
		}
		st, err := os.Stat(filepath.Join(dir, KeyFileName))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("key file mode = %04o, want 0600", st.Mode().Perm())
		}
		b2, origin, err := Load(Source{Dir: dir})
		if err != nil || origin != FromFile {
			t.Fatalf("second Load = %v, %v", origin, err)
		}
		if b1.KeyID() != b2.KeyID() {
			t.Fatal("the second start uses another key")
		}
		if _, err := b2.Open(b1.Seal([]byte("x"), nil), nil); err != nil {
			t.Fatalf("a value sealed before a restart does not open after it: %v", err)
		}
	})
	t.Run("a key file readable by the group is refused", func(t *testing.T) {
		dir := t.TempDir()
		if _, _, err := Load(Source{Dir: dir, Create: true}); err != nil {
			t.Fatal(err)
		}
		for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660} {
			if err := os.Chmod(filepath.Join(dir, KeyFileName), mode); err != nil {
				t.Fatal(err)
			}
			if _, _, err := Load(Source{Dir: dir, Create: true}); !errors.Is(err, ErrKeyFileMode) {
				t.Fatalf("mode %04o: Load = %v, want ErrKeyFileMode", mode, err)
			}
		}
		if err := os.Chmod(filepath.Join(dir, KeyFileName), 0o400); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Load(Source{Dir: dir}); err != nil {
			t.Fatalf("a read-only owner key file must load: %v", err)
		}
	})
	t.Run("a missing key file is an error when creating is off", func(t *testing.T) {
		if _, _, err := Load(Source{Dir: t.TempDir()}); !errors.Is(err, ErrNoKey) {
			t.Fatalf("Load = %v, want ErrNoKey", err)
		}
	})
	t.Run("a garbled key file is refused", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, KeyFileName), []byte("garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Load(Source{Dir: dir, Create: true}); !errors.Is(err, ErrBadKey) {
			t.Fatalf("Load = %v, want ErrBadKey", err)
		}
	})
	t.Run("SLIPWAY_SECRET_KEY wins over the file and writes nothing", func(t *testing.T) {
		dir := t.TempDir()
		key := NewKey()
		b, origin, err := Load(Source{EncodedKey: key, Dir: dir, Create: true})
		if err != nil || origin != FromEnv {
			t.Fatalf("Load = %v, %v", origin, err)
		}
		raw, _ := DecodeKey(key)
		want, _ := New(raw)
		if b.KeyID() != want.KeyID() {
			t.Fatal("the box does not use the given key")
		}
		if _, err := os.Stat(filepath.Join(dir, KeyFileName)); !os.IsNotExist(err) {
			t.Fatalf("a key file was written: %v", err)
		}
	})
	t.Run("a bad SLIPWAY_SECRET_KEY is refused", func(t *testing.T) {
		if _, _, err := Load(Source{EncodedKey: "short", Dir: t.TempDir()}); !errors.Is(err, ErrBadKey) {
			t.Fatalf("Load = %v, want ErrBadKey", err)
		}
	})
	t.Run("concurrent first starts agree on one key", func(t *testing.T) {
		dir := t.TempDir()
		ids := make([]string, 8)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				b, _, err := Load(Source{Dir: dir, Create: true})
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = b.KeyID()
			})
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("key IDs differ: %v", ids)
			}
		}
	})
}

func TestDeriveKeyIsStablePerPurposeAndKey(t *testing.T) {
	k1, _ := DecodeKey(NewKey())
	k2, _ := DecodeKey(NewKey())
	a, _ := New(k1)
	again, _ := New(k1)
	other, _ := New(k2)
	if !bytes.Equal(a.DeriveKey("csrf"), again.DeriveKey("csrf")) {
		t.Fatal("the same key and purpose must derive the same key (restarts, several processes)")
	}
	if bytes.Equal(a.DeriveKey("csrf"), a.DeriveKey("other")) || bytes.Equal(a.DeriveKey("csrf"), other.DeriveKey("csrf")) {
		t.Fatal("another purpose or another secret key must derive another key")
	}
	if bytes.Equal(a.DeriveKey("csrf"), k1) || len(a.DeriveKey("csrf")) != KeySize {
		t.Fatal("the derived key must be 32 bytes and not the secret key")
	}
}

package keyring

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func testKey(t testing.TB, fill byte) []byte {
	t.Helper()
	return bytes.Repeat([]byte{fill}, KeySize)
}

func testKeyring(t testing.TB, current []byte, old ...[]byte) *Keyring {
	t.Helper()
	k, err := New(current, old...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k
}

// secret is the shape of what Herald seals: a whsec_ endpoint secret.
const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var aad = []byte("app_2abc/ep_2def")

func TestSealOpenRoundTrip(t *testing.T) {
	k := testKeyring(t, testKey(t, 1))
	for _, pt := range []string{"", "x", secret, strings.Repeat("long secret ", 500)} {
		sealed := k.Seal([]byte(pt), aad)
		if !IsSealed(sealed) {
			t.Fatalf("IsSealed(%q) = false", sealed)
		}
		if want := "enc:v1:" + k.ID() + ":"; !strings.HasPrefix(sealed, want) {
			t.Fatalf("sealed = %q, want prefix %q", sealed, want)
		}
		got, err := k.Open(sealed, aad)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if string(got) != pt {
			t.Fatalf("Open = %q, want %q", got, pt)
		}
		if got == nil {
			t.Fatal("Open returned nil for a valid value; want an empty slice")
		}
	}
}

func TestSealNilAAD(t *testing.T) {
	k := testKeyring(t, testKey(t, 1))
	sealed := k.Seal([]byte(secret), nil)
	if got, err := k.Open(sealed, nil); err != nil || string(got) != secret {
		t.Fatalf("Open(nil aad) = %q, %v", got, err)
	}
	if got, err := k.Open(sealed, []byte{}); err != nil || string(got) != secret {
		t.Fatalf("nil and empty aad should be the same: %q, %v", got, err)
	}
}

func TestOpenAADMismatch(t *testing.T) {
	k := testKeyring(t, testKey(t, 1))
	sealed := k.Seal([]byte(secret), aad)
	for _, other := range [][]byte{nil, []byte("app_2abc/ep_2deg"), []byte("app_2abc/ep_2de"), append(aad, 0)} {
		if _, err := k.Open(sealed, other); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open with aad %q: err = %v, want ErrCorrupt", other, err)
		}
	}
}

// TestOpenTampered changes every byte of a sealed value in turn: each
// change must be refused, whichever part of the value it hits.
func TestOpenTampered(t *testing.T) {
	k := testKeyring(t, testKey(t, 1))
	sealed := k.Seal([]byte(secret), aad)
	for i := range len(sealed) {
		for _, delta := range []byte{1, 0x20, 0x80} {
			b := []byte(sealed)
			b[i] ^= delta
			got, err := k.Open(string(b), aad)
			if err == nil {
				t.Fatalf("byte %d ^ %#x: Open accepted %q and returned %q", i, delta, b, got)
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("byte %d ^ %#x: err = %v, want ErrCorrupt or ErrUnknownKey", i, delta, err)
			}
		}
	}
	// Truncation and extension too.
	for _, bad := range []string{sealed[:len(sealed)-1], sealed + "A", sealed + "\n", sealed[:headerLen], ""} {
		if _, err := k.Open(bad, aad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open(%q): err = %v, want ErrCorrupt", bad, err)
		}
	}
}

func TestOpenMalformed(t *testing.T) {
	k := testKeyring(t, testKey(t, 1))
	id := k.ID()
	for _, bad := range []string{
		"whsec_abc",
		"enc:v1:",
		"enc:v2:" + id + ":AAAA",
		"enc:v1:" + strings.ToUpper(id) + ":" + strings.Repeat("A", 60),
		"enc:v1:" + id[:15] + ":" + strings.Repeat("A", 60),
		"enc:v1:" + id + strings.Repeat("A", 60),
		"enc:v1:" + id + ":" + strings.Repeat("A", 40) + "==",
		"enc:v1:" + id + ":" + strings.Repeat("A", 20), // shorter than nonce + tag
		"enc:v1:" + id + ":" + strings.Repeat("+", 60), // standard, not URL, alphabet
	} {
		if _, err := k.Open(bad, aad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open(%q): err = %v, want ErrCorrupt", bad, err)
		}
	}
}

func TestOpenUnknownKey(t *testing.T) {
	k1 := testKeyring(t, testKey(t, 1))
	k2 := testKeyring(t, testKey(t, 2))
	sealed := k1.Seal([]byte(secret), aad)
	_, err := k2.Open(sealed, aad)
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Open under another keyring: err = %v, want ErrUnknownKey", err)
	}
	if !strings.Contains(err.Error(), k1.ID()) {
		t.Errorf("error %q does not name the key id %s", err, k1.ID())
	}

	// A well-formed id that no key has.
	forged := "enc:v1:0123456789abcdef:" + sealed[headerLen:]
	if _, err := k1.Open(forged, aad); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Open with forged id: err = %v, want ErrUnknownKey", err)
	}
	// Swapping the id of a known key in does not open it either: the
	// header is authenticated and the key differs.
	k12 := testKeyring(t, testKey(t, 2), testKey(t, 1))
	swapped := "enc:v1:" + k12.ID() + ":" + sealed[headerLen:]
	if _, err := k12.Open(swapped, aad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with swapped id: err = %v, want ErrCorrupt", err)
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey := testKey(t, 1), testKey(t, 2)
	before := testKeyring(t, oldKey)
	sealedOld := before.Seal([]byte(secret), aad)

	after := testKeyring(t, newKey, oldKey)
	if after.ID() == before.ID() {
		t.Fatal("rotation did not change the current key id")
	}
	got, err := after.Open(sealedOld, aad)
	if err != nil || string(got) != secret {
		t.Fatalf("Open of old value after rotation = %q, %v", got, err)
	}
	if !after.NeedsRewrap(sealedOld) {
		t.Error("NeedsRewrap(old value) = false after rotation")
	}
	sealedNew := after.Seal(got, aad)
	if after.NeedsRewrap(sealedNew) {
		t.Error("NeedsRewrap(value under current key) = true")
	}
	if !strings.HasPrefix(sealedNew, "enc:v1:"+after.ID()+":") {
		t.Errorf("rewrapped value %q is not under the current key", sealedNew)
	}
	if before.NeedsRewrap(sealedOld) {
		t.Error("NeedsRewrap = true for the only key")
	}
	if after.NeedsRewrap(secret) || after.NeedsRewrap("enc:v1:0123456789abcdef:AAAA") {
		t.Error("NeedsRewrap = true for a plaintext or an unknown key")
	}
	// Once the old key is dropped, old values no longer open.
	dropped := testKeyring(t, newKey)
	if _, err := dropped.Open(sealedOld, aad); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Open after dropping old key: err = %v, want ErrUnknownKey", err)
	}
}

func TestNoncesDiffer(t *testing.T) {
	k := testKeyring(t, testKey(t, 1))
	seen := map[string]bool{}
	for range 1000 {
		s := k.Seal([]byte(secret), aad)
		raw, err := base64.RawURLEncoding.DecodeString(s[headerLen:])
		if err != nil {
			t.Fatal(err)
		}
		nonce := string(raw[:24])
		if seen[nonce] {
			t.Fatalf("nonce repeated after %d seals", len(seen))
		}
		seen[nonce] = true
	}
}

func TestPlaintextNotInSealed(t *testing.T) {
	k := testKeyring(t, testKey(t, 1))
	pt := []byte(secret)
	sealed := k.Seal(pt, aad)
	raw, _ := base64.RawURLEncoding.DecodeString(sealed[headerLen:])
	for _, hay := range []string{sealed, string(raw)} {
		if strings.Contains(hay, secret) || strings.Contains(hay, secret[len("whsec_"):]) {
			t.Fatalf("plaintext appears in sealed form %q", hay)
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding, base64.RawStdEncoding} {
			if strings.Contains(hay, enc.EncodeToString(pt)[:16]) {
				t.Fatalf("encoded plaintext appears in sealed form %q", hay)
			}
		}
	}
}

func TestIsSealed(t *testing.T) {
	for s, want := range map[string]bool{
		"":                             false,
		secret:                         false,
		"enc:v1:0123456789abcdef:AAAA": true,
		"enc:v9:whatever":              true, // a later version is still not plaintext
		"ENC:v1:x":                     false,
		"xenc:v1:":                     false,
	} {
		if got := IsSealed(s); got != want {
			t.Errorf("IsSealed(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	good := testKey(t, 1)
	for _, n := range []int{0, 16, 31, 33, 64} {
		bad := bytes.Repeat([]byte{0xAB}, n)
		if _, err := New(bad); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("New(%d-byte key): err = %v, want ErrInvalidKey", n, err)
		}
		_, err := New(good, good, bad)
		if !errors.Is(err, ErrInvalidKey) {
			t.Errorf("New(old %d-byte key): err = %v, want ErrInvalidKey", n, err)
		}
		if err != nil && strings.Contains(strings.ToLower(err.Error()), "abab") {
			t.Errorf("error %q quotes key material", err)
		}
	}
}

func TestKeyID(t *testing.T) {
	k := testKeyring(t, testKey(t, 1))
	if len(k.ID()) != 16 || strings.Trim(k.ID(), "0123456789abcdef") != "" {
		t.Fatalf("ID() = %q, want 16 lowercase hex digits", k.ID())
	}
	// SHA-256 of 32 bytes of 0x01, first 8 bytes.
	if want := "72cd6e8422c407fb"; k.ID() != want {
		t.Fatalf("ID() = %s, want %s", k.ID(), want)
	}
	if s := fmt.Sprintf("%v %+v %#v %s", k, k, k, k); strings.Contains(s, "\x01\x01") || !strings.Contains(s, k.ID()) {
		t.Fatalf("formatted keyring %q leaks key bytes or hides the id", s)
	}
}

func TestParseKey(t *testing.T) {
	key := make([]byte, KeySize)
	rand.Read(key)
	enc := base64.StdEncoding.EncodeToString(key)
	got, err := ParseKey(enc)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("ParseKey(valid) = %x, %v", got, err)
	}
	for name, s := range map[string]string{
		"empty":        "",
		"31 bytes":     base64.StdEncoding.EncodeToString(key[:31]),
		"33 bytes":     base64.StdEncoding.EncodeToString(append(key, 0)),
		"64 bytes":     base64.StdEncoding.EncodeToString(append(key, key...)),
		"no padding":   base64.RawStdEncoding.EncodeToString(key),
		"url alphabet": strings.NewReplacer("+", "-", "/", "_").Replace(enc),
		"line break":   enc[:20] + "\n" + enc[20:],
		"hex":          fmt.Sprintf("%x", key),
		"junk":         "not a key at all!",
	} {
		if name == "url alphabet" && !strings.ContainsAny(enc, "+/") {
			continue // nothing to replace in this random key
		}
		_, err := ParseKey(s)
		if !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: ParseKey err = %v, want ErrInvalidKey", name, err)
			continue
		}
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("%s: error %q quotes the input", name, err)
		}
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.key")
	key, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("first load: created=%v err=%v", created, err)
	}
	if len(key) != KeySize {
		t.Fatalf("created key is %d bytes", len(key))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %04o, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if want := base64.StdEncoding.EncodeToString(key) + "\n"; string(data) != want {
		t.Fatalf("key file holds %d bytes not in the documented format", len(data))
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the key file (temporary file left behind?)", len(entries))
	}

	again, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created || !bytes.Equal(again, key) {
		t.Fatalf("second load: created=%v err=%v same=%v", created, err, bytes.Equal(again, key))
	}
}

func TestLoadKeyFileFormats(t *testing.T) {
	key := testKey(t, 7)
	enc := base64.StdEncoding.EncodeToString(key)
	for name, tc := range map[string]struct {
		contents string
		ok       bool
	}{
		"bare":          {enc, true},
		"newline":       {enc + "\n", true},
		"crlf":          {enc + "\r\n", true},
		"two newlines":  {enc + "\n\n", false},
		"leading space": {" " + enc, false},
		"short":         {enc[:40], false},
		"empty":         {"", false},
		"huge":          {strings.Repeat("A", 1<<20), false},
	} {
		path := filepath.Join(t.TempDir(), "k")
		if err := os.WriteFile(path, []byte(tc.contents), 0o600); err != nil {
			t.Fatal(err)
		}
		got, created, err := LoadOrCreateKeyFile(path)
		if created {
			t.Errorf("%s: created a key over an existing file", name)
		}
		if tc.ok != (err == nil) {
			t.Errorf("%s: err = %v, want ok=%v", name, err, tc.ok)
			continue
		}
		if tc.ok && !bytes.Equal(got, key) {
			t.Errorf("%s: wrong key", name)
		}
		if err != nil && strings.Contains(err.Error(), enc[:12]) {
			t.Errorf("%s: error %q quotes key material", name, err)
		}
	}
}

func TestLoadKeyFileRefusesOpenPermissions(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o700} {
		path := filepath.Join(t.TempDir(), "herald.key")
		enc := base64.StdEncoding.EncodeToString(testKey(t, 3))
		if err := os.WriteFile(path, []byte(enc+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrCreateKeyFile(path)
		if mode&0o077 == 0 {
			if err != nil {
				t.Errorf("mode %04o: %v", mode, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: err = %v, want a refusal telling to chmod 600", mode, err)
		}
		if err != nil && strings.Contains(err.Error(), enc[:12]) {
			t.Errorf("mode %04o: error quotes key material", mode)
		}
		// The refused file is left as it was.
		if fi, _ := os.Stat(path); fi.Mode().Perm() != mode {
			t.Errorf("mode %04o: file mode changed to %04o", mode, fi.Mode().Perm())
		}
	}
}

func TestLoadKeyFileRefusesDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKeyFile(dir); err == nil {
		t.Fatal("LoadOrCreateKeyFile(directory) succeeded")
	}
}

func TestCreateKeyFileMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "herald.key")
	if _, _, err := LoadOrCreateKeyFile(path); err == nil {
		t.Fatal("LoadOrCreateKeyFile in a missing directory succeeded")
	}
}

// TestLoadOrCreateConcurrent starts many creators at once: all must end
// with the same key, because a key handed out and then replaced on disk
// would make everything sealed under it unreadable after a restart.
func TestLoadOrCreateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.key")
	const n = 16
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], _, errs[i] = LoadOrCreateKeyFile(path) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("creator %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("creator %d got a different key than creator 0", i)
		}
	}
	onDisk, _, err := LoadOrCreateKeyFile(path)
	if err != nil || !bytes.Equal(onDisk, keys[0]) {
		t.Fatalf("key on disk differs from the keys handed out (err %v)", err)
	}
}

func TestConcurrentSealOpen(t *testing.T) {
	k := testKeyring(t, testKey(t, 1), testKey(t, 2))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				pt := fmt.Appendf(nil, "secret-%d-%d", i, j)
				got, err := k.Open(k.Seal(pt, aad), aad)
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("round trip %d/%d: %q, %v", i, j, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// benchSecret is 40 random bytes, the size of a typical signing secret.
func benchSecret(b *testing.B) []byte {
	pt := make([]byte, 40)
	rand.Read(pt)
	return pt
}

func BenchmarkSeal(b *testing.B) {
	k := testKeyring(b, testKey(b, 1))
	pt := benchSecret(b)
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		_ = k.Seal(pt, aad)
	}
}

func BenchmarkOpen(b *testing.B) {
	k := testKeyring(b, testKey(b, 1))
	pt := benchSecret(b)
	sealed := k.Seal(pt, aad)
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Open(sealed, aad); err != nil {
			b.Fatal(err)
		}
	}
}

// TestExportForJoin: the material a joining node receives rebuilds the
// same keyring, prints as key ids only, and installs into key files that
// never replace a different key.
func TestExportForJoin(t *testing.T) {
	cur, old := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	k, err := New(cur, old)
	if err != nil {
		t.Fatal(err)
	}
	m := k.Export()
	gotCur, gotOld, err := m.Keys()
	if err != nil || !bytes.Equal(gotCur, cur) || len(gotOld) != 1 || !bytes.Equal(gotOld[0], old) {
		t.Fatalf("Export().Keys() = %x, %x, %v", gotCur, gotOld, err)
	}
	for _, s := range []string{m.String(), fmt.Sprintf("%v", m), fmt.Sprintf("%+v", m), fmt.Sprintf("%#v", m)} {
		if strings.Contains(s, m.Current) || strings.Contains(s, m.Old[0]) {
			t.Errorf("printed material carries a key: %s", s)
		}
	}
	sealed := k.Seal([]byte("secret"), nil)
	again, err := New(gotCur, gotOld...)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := again.Open(sealed, nil); err != nil || string(pt) != "secret" {
		t.Fatalf("rebuilt keyring opens %q, %v", pt, err)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "secrets.key")
	if err := InstallKeyFile(path, cur); err != nil {
		t.Fatal(err)
	}
	if err := InstallKeyFile(path, cur); err != nil {
		t.Errorf("installing the same key again: %v", err)
	}
	if err := InstallKeyFile(path, old); err == nil {
		t.Error("a different key replaced the key file")
	}
	if got, created, err := LoadOrCreateKeyFile(path); err != nil || created || !bytes.Equal(got, cur) {
		t.Errorf("LoadOrCreateKeyFile after install = %x, %v, %v", got, created, err)
	}
	oldPath := OldKeysFile(path)
	if keys, err := LoadOldKeysFile(oldPath); err != nil || keys != nil {
		t.Errorf("LoadOldKeysFile of a missing file = %x, %v", keys, err)
	}
	if err := InstallOldKeysFile(oldPath, [][]byte{old, cur}); err != nil {
		t.Fatal(err)
	}
	if keys, err := LoadOldKeysFile(oldPath); err != nil || len(keys) != 2 || !bytes.Equal(keys[0], old) || !bytes.Equal(keys[1], cur) {
		t.Errorf("LoadOldKeysFile = %x, %v", keys, err)
	}
	if fi, err := os.Stat(oldPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("old keys file mode: %v %v", fi.Mode(), err)
	}
}

//go:build linux

package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestTrimMappedFiles maps a file as Badger does, dirties 64 MiB of it,
// and checks that trimming gives the resident pages back without losing a
// byte, through the mapping or the file.
func TestTrimMappedFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "000001.vlog")
	const size = 64 << 20
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	pattern := func(i int) byte { return byte(i/4096 + i%251) }
	before, _ := MappedFileRSS()
	for i := range m {
		m[i] = pattern(i)
	}
	dirtied, _ := MappedFileRSS()
	if dirtied-before < size*9/10 {
		t.Fatalf("RssFile grew by %d bytes after writing %d through the mapping", dirtied-before, size)
	}
	n, err := TrimMappedFiles(dir)
	if err != nil || n < size {
		t.Fatalf("TrimMappedFiles = %d, %v; want at least %d", n, err, size)
	}
	after, _ := MappedFileRSS()
	if dirtied-after < size*9/10 {
		t.Fatalf("RssFile %d -> %d after trimming: the pages stayed mapped", dirtied, after)
	}
	// Nothing lost: msync still writes the data, and both views agree.
	if err := unix.Msync(m, unix.MS_SYNC); err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < size; i += 4093 {
		if m[i] != pattern(i) || onDisk[i] != pattern(i) {
			t.Fatalf("byte %d: mapping %d, file %d, want %d", i, m[i], onDisk[i], pattern(i))
		}
	}
}

// TestTrimMappedFilesUnderBadger trims a live store between writes and
// reads: Badger must not notice.
func TestTrimMappedFilesUnderBadger(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := openTestStore(t, dir)
	payload := bytes.Repeat([]byte("x"), 2048)
	for i := range 200 {
		mustApply(t, s, func(tx *Tx) error {
			tx.set([]byte("test/"+string(rune('a'+i%26))+string(rune('a'+i/26))), payload)
			return nil
		})
		if i%50 == 0 {
			if _, err := TrimMappedFiles(dir); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := TrimMappedFiles(dir); err != nil {
		t.Fatal(err)
	}
	kv := dumpKV(t, s)
	if got := kv["test/aa"]; got != string(payload) {
		t.Fatalf("value after trims: %d bytes, want %d", len(got), len(payload))
	}
}

package storage

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/rs/zerolog"
	"github.com/segmentio/ksuid"
)

// testLogger writes to t.Log until the test's cleanups have run, then drops
// lines: Badger goroutines may log after a test returns, and t.Log panics
// then.
func testLogger(t testing.TB) zerolog.Logger {
	w := &cutoffWriter{t: t}
	t.Cleanup(w.cut) // registered first, so it runs last
	return zerolog.New(w).Level(zerolog.WarnLevel)
}

type cutoffWriter struct {
	mu  sync.Mutex
	t   testing.TB
	off bool
}

func (w *cutoffWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.off {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func (w *cutoffWriter) cut() {
	w.mu.Lock()
	w.off = true
	w.mu.Unlock()
}

// openTestStore opens a store in dir (a new temporary directory when dir is
// empty) and closes it when the test ends.
func openTestStore(t testing.TB, dir string) *Store {
	t.Helper()
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "state")
	}
	s, err := Open(dir, testLogger(t))
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// applyTx applies fn as the entry after the store's applied index, in a
// batch of its own, and returns fn's error.
func applyTx(t testing.TB, s *Store, fn func(tx *Tx) error) error {
	t.Helper()
	b, err := s.Begin()
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	ferr := b.Apply(s.AppliedIndex()+1, fn)
	if err := b.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return ferr
}

// mustApply is applyTx for steps that must succeed.
func mustApply(t testing.TB, s *Store, fn func(tx *Tx) error) {
	t.Helper()
	if err := applyTx(t, s, fn); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// dumpKV returns every key and value of the store.
func dumpKV(t testing.TB, s *Store) map[string]string {
	t.Helper()
	kv := map[string]string{}
	err := s.View(func(r *Reader) error {
		it := r.txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			kv[string(it.Item().Key())] = string(v)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	return kv
}

// dumpState is dumpKV without the applied index, which every batch moves.
func dumpState(t testing.TB, s *Store) map[string]string {
	t.Helper()
	kv := dumpKV(t, s)
	delete(kv, pApplied)
	return kv
}

// snapshotBytes is the whole store as its snapshot stream.
func snapshotBytes(t testing.TB, s *Store) []byte {
	t.Helper()
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	defer sn.Release()
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	return buf.Bytes()
}

// diffKV describes how got differs from want, or returns "".
func diffKV(got, want map[string]string) string {
	var lines []string
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			lines = append(lines, fmt.Sprintf("missing %q", k))
		case g != v:
			lines = append(lines, fmt.Sprintf("changed %q: %x -> %x", k, v, g))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			lines = append(lines, fmt.Sprintf("extra %q", k))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func assertSameState(t testing.TB, got, want map[string]string) {
	t.Helper()
	if d := diffKV(got, want); d != "" {
		t.Fatalf("state differs:\n%s", d)
	}
}

// keysWithPrefix lists the keys of kv that start with prefix, sorted.
func keysWithPrefix(kv map[string]string, prefix string) []string {
	var keys []string
	for k := range kv {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func view(t testing.TB, s *Store, fn func(r *Reader) error) {
	t.Helper()
	if err := s.View(fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// resetIDs forgets the last id NewID made, so a test can make ids at times
// earlier than ids other tests made. Tests in this package are not parallel.
func resetIDs() {
	idGen.Lock()
	idGen.last = ksuid.Nil
	idGen.Unlock()
}

// idAt returns NewID(prefix, at) after resetting the generator, so the id
// carries exactly that second.
func idsAt(prefix string, times ...time.Time) []string {
	resetIDs()
	ids := make([]string, len(times))
	for i, at := range times {
		ids[i] = NewID(prefix, at)
	}
	return ids
}

// baseTime is a fixed whole second well after the KSUID epoch.
var baseTime = time.Unix(1_700_000_000, 0)

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

var _ io.Reader = failingReader{}

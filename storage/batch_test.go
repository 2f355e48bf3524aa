package storage

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

func TestBatchAppliedIndexSurvivesReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if s.AppliedIndex() != 0 {
		t.Fatalf("new store AppliedIndex = %d", s.AppliedIndex())
	}
	b, err := s.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, idx := range []uint64{3, 4, 7} {
		if err := b.Apply(idx, func(tx *Tx) error { tx.PutNode(Node{ID: fmt.Sprint(idx)}); return nil }); err != nil {
			t.Fatalf("Apply(%d): %v", idx, err)
		}
	}
	if s.AppliedIndex() != 0 {
		t.Fatalf("AppliedIndex before Commit = %d, want 0", s.AppliedIndex())
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if s.AppliedIndex() != 7 {
		t.Fatalf("AppliedIndex = %d, want 7", s.AppliedIndex())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir)
	if s.AppliedIndex() != 7 {
		t.Fatalf("AppliedIndex after reopen = %d, want 7", s.AppliedIndex())
	}
	view(t, s, func(r *Reader) error {
		nodes, err := r.Nodes()
		if err != nil || len(nodes) != 3 {
			t.Errorf("Nodes after reopen = %v, %v", nodes, err)
		}
		return nil
	})
}

func TestBatchSkipsAppliedEntries(t *testing.T) {
	s := openTestStore(t, "")
	mustApply(t, s, func(tx *Tx) error { tx.PutNode(Node{ID: "a"}); return nil }) // index 1
	b, err := s.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}()
	called := 0
	fn := func(tx *Tx) error { called++; tx.PutNode(Node{ID: "b"}); return nil }
	for _, idx := range []uint64{0, 1} {
		if err := b.Apply(idx, fn); !errors.Is(err, ErrApplied) {
			t.Fatalf("Apply(%d) = %v, want ErrApplied", idx, err)
		}
	}
	if called != 0 {
		t.Fatalf("fn called %d times for applied entries", called)
	}
	if err := b.Apply(5, fn); err != nil {
		t.Fatal(err)
	}
	// Within a batch too: 5 is now applied, and so is everything below.
	for _, idx := range []uint64{5, 4, 2} {
		if err := b.Apply(idx, fn); !errors.Is(err, ErrApplied) {
			t.Fatalf("Apply(%d) after 5 = %v, want ErrApplied", idx, err)
		}
	}
	if called != 1 {
		t.Fatalf("fn called %d times, want 1", called)
	}
}

func TestBatchBusinessErrorStillCommits(t *testing.T) {
	s := openTestStore(t, "")
	boom := errors.New("business")
	err := applyTx(t, s, func(tx *Tx) error { tx.PutNode(Node{ID: "x"}); return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Apply err = %v, want %v", err, boom)
	}
	if s.AppliedIndex() != 1 {
		t.Fatalf("AppliedIndex = %d, want 1: a business error still applies the entry", s.AppliedIndex())
	}
	if _, ok := dumpState(t, s)[string(nodeKey("x"))]; !ok {
		t.Fatalf("writes before a business error were dropped")
	}
}

func TestBatchSkip(t *testing.T) {
	s := openTestStore(t, "")
	before := dumpState(t, s)
	b, err := s.Begin()
	if err != nil {
		t.Fatal(err)
	}
	b.Skip(4)
	b.Skip(2) // lower: no effect
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if s.AppliedIndex() != 4 {
		t.Fatalf("AppliedIndex after Skip = %d, want 4", s.AppliedIndex())
	}
	assertSameState(t, dumpState(t, s), before)
	b, _ = s.Begin()
	if err := b.Apply(4, func(*Tx) error { t.Fatal("fn called for a skipped index"); return nil }); !errors.Is(err, ErrApplied) {
		t.Fatalf("Apply(4) after Skip(4) = %v", err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestBatchEmptyCommitWritesNothing(t *testing.T) {
	s := openTestStore(t, "")
	mustApply(t, s, func(tx *Tx) error { tx.PutNode(Node{ID: "a"}); return nil })
	before := dumpKV(t, s)
	b, err := s.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(1, func(*Tx) error { return nil }); !errors.Is(err, ErrApplied) {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	assertSameState(t, dumpKV(t, s), before)
	if s.AppliedIndex() != 1 {
		t.Fatalf("AppliedIndex = %d", s.AppliedIndex())
	}
}

// TestBatchCommitEndsItsTransaction checks that a committed batch leaves no
// Badger transaction open: an open one pins Badger's read watermark, so old
// versions are never discarded and the oracle's bookkeeping grows with every
// batch.
func TestBatchCommitEndsItsTransaction(t *testing.T) {
	s := openTestStore(t, "")
	for _, tc := range []struct {
		name string
		fill func(b *Batch)
	}{
		{"after writes", func(b *Batch) {
			_ = b.Apply(s.AppliedIndex()+1, func(tx *Tx) error { tx.PutNode(Node{ID: "a"}); return nil })
		}},
		{"after a skip", func(b *Batch) { b.Skip(s.AppliedIndex() + 1) }},
		{"empty", func(*Batch) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := s.Begin()
			if err != nil {
				t.Fatal(err)
			}
			tc.fill(b)
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			if b.txn != nil {
				if err := b.txn.Set([]byte("probe"), nil); !errors.Is(err, badger.ErrDiscardedTxn) {
					t.Fatalf("transaction still open after Commit (Set = %v)", err)
				}
			}
		})
	}
}

func TestBatchMinDue(t *testing.T) {
	s := openTestStore(t, "")
	b, err := s.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if b.MinDue() != 0 {
		t.Fatalf("MinDue of a new batch = %d", b.MinDue())
	}
	for i, due := range []int64{500, 300, 900} {
		_ = b.Apply(uint64(i+1), func(tx *Tx) error {
			tx.schedule(ScheduleKey{DueMs: due, MsgID: fmt.Sprint("m", i), EndpointID: "e"}, Due{Attempt: 1})
			return nil
		})
	}
	if b.MinDue() != 300 {
		t.Fatalf("MinDue = %d, want 300", b.MinDue())
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	b, _ = s.Begin()
	_ = b.Apply(10, func(tx *Tx) error { tx.PutNode(Node{ID: "n"}); return nil })
	if b.MinDue() != 0 {
		t.Fatalf("MinDue of a batch without schedule keys = %d", b.MinDue())
	}
	_ = b.Commit()
}

// TestBatchSplitsAtSoftLimits applies more entries than one transaction
// should hold: the batch commits at entry boundaries on the way, each
// commit carrying the index of the last entry it completed.
func TestBatchSplitsAtSoftLimits(t *testing.T) {
	tests := []struct {
		name      string
		entries   int
		perEntry  int
		valueSize int
	}{
		{"by writes", 25, softMaxWrites / 10, 8},  // 2.5x the write limit
		{"by bytes", 12, 100, softMaxBytes / 400}, // about 3x the byte limit
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			s := openTestStore(t, dir)
			b, err := s.Begin()
			if err != nil {
				t.Fatal(err)
			}
			value := make([]byte, tc.valueSize)
			var flushedAt []uint64
			for e := 1; e <= tc.entries; e++ {
				before := s.AppliedIndex()
				err := b.Apply(uint64(e), func(tx *Tx) error {
					for i := range tc.perEntry {
						tx.set(fmt.Appendf(nil, "test/%04d/%06d", e, i), value)
					}
					return nil
				})
				if err != nil {
					t.Fatalf("Apply(%d): %v", e, err)
				}
				if got := s.AppliedIndex(); got != before {
					if got != uint64(e) {
						t.Fatalf("commit inside the batch stored index %d after entry %d", got, e)
					}
					flushedAt = append(flushedAt, got)
				}
			}
			if len(flushedAt) < 2 {
				t.Fatalf("intermediate commits at %v, want at least 2", flushedAt)
			}
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			if s.AppliedIndex() != uint64(tc.entries) {
				t.Fatalf("AppliedIndex = %d, want %d", s.AppliedIndex(), tc.entries)
			}
			if n := len(keysWithPrefix(dumpKV(t, s), "test/")); n != tc.entries*tc.perEntry {
				t.Fatalf("%d keys stored, want %d", n, tc.entries*tc.perEntry)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2 := openTestStore(t, dir)
			if s2.AppliedIndex() != uint64(tc.entries) {
				t.Fatalf("AppliedIndex after reopen = %d", s2.AppliedIndex())
			}
		})
	}
}

// TestBatchEntryLargerThanATransaction makes one entry write more than
// Badger takes in one transaction. The batch must commit part of it without
// claiming the entry applied, and finish it in the next transaction.
func TestBatchEntryLargerThanATransaction(t *testing.T) {
	tests := []struct {
		name      string
		writes    int
		valueSize int
	}{
		// Small entries: Badger's count limit is reached first.
		{"count bound", 70_000, 0},
		// Values under the value threshold count in full: size bound.
		{"size bound", 30_000, 200},
		// Deletes count like writes.
		{"deletes", -70_000, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			s := openTestStore(t, dir)
			mustApply(t, s, func(tx *Tx) error { tx.PutNode(Node{ID: "before"}); return nil }) // index 1
			b, err := s.Begin()
			if err != nil {
				t.Fatal(err)
			}
			// A small entry first, in the same transaction as the big one.
			if err := b.Apply(2, func(tx *Tx) error { tx.PutNode(Node{ID: "small"}); return nil }); err != nil {
				t.Fatal(err)
			}
			value := make([]byte, tc.valueSize)
			writes, del := tc.writes, false
			if writes < 0 {
				writes, del = -writes, true
			}
			var midIndex uint64
			func() {
				defer func() {
					if r := recover(); r != nil {
						// Let the store close: a panicking Apply
						// leaves the batch holding the store.
						b.txn.Discard()
						b.release()
						t.Fatalf("Apply panicked: %v", r)
					}
				}()
				err = b.Apply(3, func(tx *Tx) error {
					for i := range writes {
						k := fmt.Appendf(nil, "big/%07d", i)
						if del {
							tx.del(k)
						} else {
							tx.set(k, value)
						}
					}
					midIndex = s.AppliedIndex()
					return nil
				})
			}()
			if err != nil {
				t.Fatal(err)
			}
			// Part of entry 3 was committed, with the index of entry 2 only.
			if midIndex != 2 {
				t.Fatalf("index stored by the partial commit = %d, want 2", midIndex)
			}
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			if s.AppliedIndex() != 3 {
				t.Fatalf("AppliedIndex = %d, want 3", s.AppliedIndex())
			}
			want := writes
			if del {
				want = 0
			}
			kv := dumpKV(t, s)
			if n := len(keysWithPrefix(kv, "big/")); n != want {
				t.Fatalf("%d keys stored, want %d", n, want)
			}
			for _, id := range []string{"before", "small"} {
				if _, ok := kv[string(nodeKey(id))]; !ok {
					t.Fatalf("node %q lost", id)
				}
			}
		})
	}
}

func TestStoreClosed(t *testing.T) {
	s := openTestStore(t, "")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := s.Begin(); !errors.Is(err, ErrClosed) {
		t.Errorf("Begin = %v", err)
	}
	if err := s.View(func(*Reader) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("View = %v", err)
	}
	if _, err := s.Snapshot(); !errors.Is(err, ErrClosed) {
		t.Errorf("Snapshot = %v", err)
	}
	if err := s.Sync(); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync = %v", err)
	}
}

func TestStoreDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := openTestStore(t, dir)
	if s.Dir() != dir {
		t.Fatalf("Dir = %q, want %q", s.Dir(), dir)
	}
	if err := s.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

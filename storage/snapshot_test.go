package storage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// populate writes a little of everything.
func populate(t *testing.T, s *Store) {
	t.Helper()
	mustApply(t, s, func(tx *Tx) error {
		if err := tx.CreateApp(testApp(tApp, "acme")); err != nil {
			return err
		}
		if err := tx.CreateEndpoint(testEndpoint(tApp, tEpAll, "hook")); err != nil {
			return err
		}
		if err := tx.CreateEventType(EventType{Name: "a.b", Schemas: []byte("{}")}); err != nil {
			return err
		}
		tx.PutIdempotent([]byte("h"), IdempotentResponse{Status: 200, Body: []byte("{}")}, 99)
		tx.PutNode(Node{ID: "n1"})
		tx.SetAdminHash([]byte("hash"))
		return nil
	})
	mustApply(t, s, func(tx *Tx) error {
		// A payload past the value threshold lives in Badger's value log;
		// the one-off destination makes a delivery keyed by its dst_ id.
		_, _, err := tx.CreateMessage(NewMessage{Message: Message{ID: tMsg, AppID: tApp, EventID: "e",
			Payload: bytes.Repeat([]byte("x"), 4096), Timestamp: 1e9,
			Destination: Destination{ID: DestinationID(tApp, "https://x.example/"), URL: "https://x.example/"}}, EventIDExpiresMs: 50})
		return err
	})
}

// parseSnapshot reads a snapshot stream into a key/value map.
func parseSnapshot(t *testing.T, b []byte) map[string]string {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("HERALDS1")) {
		t.Fatalf("snapshot starts %q", b[:min(8, len(b))])
	}
	r := bufio.NewReader(bytes.NewReader(b[16:]))
	kv := map[string]string{}
	var prev string
	for {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			t.Fatalf("read key length: %v", err)
		}
		if n == 0 {
			break
		}
		k := make([]byte, n)
		if _, err := io.ReadFull(r, k); err != nil {
			t.Fatal(err)
		}
		if string(k) <= prev {
			t.Fatalf("keys out of order: %q after %q", k, prev)
		}
		prev = string(k)
		n, err = binary.ReadUvarint(r)
		if err != nil {
			t.Fatal(err)
		}
		v := make([]byte, n)
		if _, err := io.ReadFull(r, v); err != nil {
			t.Fatal(err)
		}
		kv[string(k)] = string(v)
	}
	if rest, _ := io.ReadAll(r); len(rest) != 0 {
		t.Fatalf("%d bytes after the end marker", len(rest))
	}
	return kv
}

func TestSnapshotFormat(t *testing.T) {
	s := openTestStore(t, "")
	if got := snapshotBytes(t, s); string(got) != "HERALDS1\x00\x00\x00\x00\x00\x00\x00\x00\x00" {
		t.Fatalf("snapshot of an empty store = %q", got)
	}
	mustApply(t, s, func(tx *Tx) error { tx.PutNode(Node{ID: "n"}); return nil })
	want := "HERALDS1" + "\x00\x00\x00\x00\x00\x00\x00\x01" +
		"\x0cmeta/applied" + "\x08\x00\x00\x00\x00\x00\x00\x00\x01" +
		"\x06node/n" + "\x05\x01\x01n\x00\x00" +
		"\x00"
	if got := snapshotBytes(t, s); string(got) != want {
		t.Fatalf("snapshot = %q\n    want %q", got, want)
	}
}

func TestSnapshotIsPointInTime(t *testing.T) {
	s := openTestStore(t, "")
	populate(t, s)
	atSnapshot := dumpKV(t, s)
	appliedAtSnapshot := s.AppliedIndex()

	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if sn.AppliedIndex() != appliedAtSnapshot {
		t.Fatalf("Snapshot.AppliedIndex = %d, want %d", sn.AppliedIndex(), appliedAtSnapshot)
	}
	// The FSM goes on applying before the snapshot is written out.
	mustApply(t, s, func(tx *Tx) error { return tx.DeleteApp(tApp) })
	mustApply(t, s, func(tx *Tx) error { return tx.CreateApp(testApp(tApp2, "later")) })
	if s.AppliedIndex() == appliedAtSnapshot {
		t.Fatalf("later writes did not apply")
	}
	var buf bytes.Buffer
	n, err := sn.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.OpenSnapshots(); got != 1 {
		t.Fatalf("OpenSnapshots with one taken = %d, want 1", got)
	}
	sn.Release()
	sn.Release() // twice is harmless
	if got := s.OpenSnapshots(); got != 0 {
		t.Fatalf("OpenSnapshots after Release = %d, want 0", got)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d", n, buf.Len())
	}
	assertSameState(t, parseSnapshot(t, buf.Bytes()), atSnapshot)

	s2 := openTestStore(t, "")
	mustApply(t, s2, func(tx *Tx) error { return tx.CreateApp(testApp("app_only_in_s2", "")) })
	if err := s2.RestoreFrom(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatalf("RestoreFrom: %v", err)
	}
	// The restored store is the state at snapshot time: not the later
	// writes, and nothing of what s2 held before.
	assertSameState(t, dumpKV(t, s2), atSnapshot)
	if s2.AppliedIndex() != appliedAtSnapshot {
		t.Fatalf("restored AppliedIndex = %d, want %d", s2.AppliedIndex(), appliedAtSnapshot)
	}
	// And it works as a store: reads, and writes after the restored index.
	if a, err := getApp(t, s2, "acme"); err != nil || a.ID != tApp {
		t.Fatalf("App(acme) after restore = %+v, %v", a, err)
	}
	var m Message
	view(t, s2, func(r *Reader) (err error) { m, err = r.Message(tApp, tMsg); return err })
	if len(m.Payload) != 4096 {
		t.Fatalf("restored payload of %d bytes", len(m.Payload))
	}
	b, err := s2.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(appliedAtSnapshot, func(*Tx) error { return nil }); !errors.Is(err, ErrApplied) {
		t.Fatalf("Apply at the restored index = %v, want ErrApplied", err)
	}
	if err := b.Apply(appliedAtSnapshot+1, func(tx *Tx) error { return tx.CreateApp(testApp(tApp2, "")) }); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	// The restore survives a reopen.
	dir := s2.Dir()
	want := dumpKV(t, s2)
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	s3 := openTestStore(t, dir)
	assertSameState(t, dumpKV(t, s3), want)
	for _, leftover := range []string{dir + ".restore", dir + ".old"} {
		if _, err := os.Stat(leftover); !os.IsNotExist(err) {
			t.Fatalf("%s left behind (%v)", leftover, err)
		}
	}
}

func TestRestoreFromBadInputKeepsState(t *testing.T) {
	src := openTestStore(t, "")
	populate(t, src)
	good := snapshotBytes(t, src)
	tests := []struct {
		name  string
		input io.Reader
	}{
		{"garbage", strings.NewReader("this is not a snapshot at all")},
		{"empty", strings.NewReader("")},
		{"magic only", strings.NewReader("HERALDS1")},
		{"magic and index only", strings.NewReader("HERALDS1\x00\x00\x00\x00\x00\x00\x00\x01")},
		{"other version", bytes.NewReader(append([]byte("HERALDS2"), good[8:]...))},
		{"truncated in a value", bytes.NewReader(good[:len(good)/2])},
		{"missing end marker", bytes.NewReader(good[:len(good)-1])},
		{"absurd length", bytes.NewReader(binary.AppendUvarint([]byte("HERALDS1\x00\x00\x00\x00\x00\x00\x00\x01"), 1<<61))},
		{"read error", io.MultiReader(bytes.NewReader(good[:100]), failingReader{errors.New("disk on fire")})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestStore(t, "")
			mustApply(t, s, func(tx *Tx) error { return tx.CreateApp(testApp(tApp2, "mine")) })
			before, applied := dumpKV(t, s), s.AppliedIndex()
			if err := s.RestoreFrom(tc.input); err == nil {
				t.Fatalf("RestoreFrom succeeded")
			}
			assertSameState(t, dumpKV(t, s), before)
			if s.AppliedIndex() != applied {
				t.Fatalf("AppliedIndex = %d, want %d", s.AppliedIndex(), applied)
			}
			// Still a working store.
			mustApply(t, s, func(tx *Tx) error { return tx.CreateApp(testApp("app_after", "")) })
			if _, err := getApp(t, s, "app_after"); err != nil {
				t.Fatalf("write after a failed restore: %v", err)
			}
			if _, err := os.Stat(s.Dir() + ".restore"); !os.IsNotExist(err) {
				t.Fatalf("restore directory left behind (%v)", err)
			}
		})
	}
}

func TestRestoreAfterClose(t *testing.T) {
	src := openTestStore(t, "")
	populate(t, src)
	good := snapshotBytes(t, src)
	s := openTestStore(t, "")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.RestoreFrom(bytes.NewReader(good)); !errors.Is(err, ErrClosed) {
		t.Fatalf("RestoreFrom on a closed store = %v, want ErrClosed", err)
	}
}

func TestRestoreWhileReading(t *testing.T) {
	src := openTestStore(t, "")
	populate(t, src)
	good := snapshotBytes(t, src)
	s := openTestStore(t, "")
	mustApply(t, s, func(tx *Tx) error { return tx.CreateApp(testApp(tApp, "acme")) })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Before and after the swap the app is there; a read never
				// sees a half-restored database or a closed one.
				err := s.View(func(r *Reader) error {
					_, err := r.App("acme")
					return err
				})
				if err != nil {
					t.Errorf("read during restore: %v", err)
					return
				}
			}
		}()
	}
	for range 3 {
		if err := s.RestoreFrom(bytes.NewReader(good)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	assertSameState(t, dumpKV(t, s), dumpKV(t, src))
}

// makeStoreDir creates a closed state directory at dir holding one node
// record named id.
func makeStoreDir(t *testing.T, dir, id string) {
	t.Helper()
	s, err := Open(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(1, func(tx *Tx) error { tx.PutNode(Node{ID: id}); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFinishSwapRecovery(t *testing.T) {
	tests := []struct {
		name   string
		dirs   []string // which of "dir", "restore", "old" exist, each with a node named after it
		wantID string   // the node the reopened store holds; "" = an empty store
	}{
		{"crash before the second rename", []string{"restore", "old"}, "restore"},
		{"restore only", []string{"restore"}, "restore"},
		{"crash after the first rename, restore gone", []string{"old"}, "old"},
		{"unfinished load", []string{"dir", "restore"}, "dir"},
		{"old left after a swap", []string{"dir", "old"}, "dir"},
		{"all three", []string{"dir", "restore", "old"}, "dir"},
		{"nothing", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			paths := map[string]string{"dir": dir, "restore": dir + ".restore", "old": dir + ".old"}
			for _, d := range tc.dirs {
				makeStoreDir(t, paths[d], d)
			}
			s := openTestStore(t, dir)
			var nodes []Node
			view(t, s, func(r *Reader) (err error) { nodes, err = r.Nodes(); return err })
			switch {
			case tc.wantID == "" && len(nodes) != 0:
				t.Fatalf("nodes = %+v, want an empty store", nodes)
			case tc.wantID != "" && (len(nodes) != 1 || nodes[0].ID != tc.wantID):
				t.Fatalf("nodes = %+v, want the %q directory's", nodes, tc.wantID)
			}
			for _, leftover := range []string{paths["restore"], paths["old"]} {
				if _, err := os.Stat(leftover); !os.IsNotExist(err) {
					t.Fatalf("%s left behind (%v)", filepath.Base(leftover), err)
				}
			}
		})
	}
}

// TestSizeEstimatesNow: the size estimate counts what the stores hold at
// once (Badger's own figure reads 0 for a minute after opening), and is
// of the order of a snapshot of the same state.
func TestSizeEstimatesNow(t *testing.T) {
	s := openTestStore(t, "")
	if got := s.Size(); got > 1<<20 {
		t.Fatalf("empty store: Size %d, want under 1 MiB", got)
	}
	value := bytes.Repeat([]byte("v"), 4096) // above the value threshold: in the value log
	for i := range 50 {
		mustApply(t, s, func(tx *Tx) error {
			for j := range 40 {
				tx.set([]byte(fmt.Sprintf("test/%04d/%04d", i, j)), value)
			}
			return nil
		})
	}
	written := int64(len(snapshotBytes(t, s)))
	got := s.Size()
	if written < 4<<20 || got < written/2 || got > written*4 {
		t.Fatalf("Size %d for a snapshot of %d bytes, want within a factor of it", got, written)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := s.Size(); got != 0 {
		t.Fatalf("closed store: Size %d, want 0", got)
	}
}

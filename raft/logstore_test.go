package raft

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/rs/zerolog"
)

// logStoreTestTime has non-zero nanoseconds so a lossy time encoding shows.
var logStoreTestTime = time.Unix(1700000000, 123456789)

func openTestLogStore(t testing.TB, dir string) *LogStore {
	t.Helper()
	s, err := OpenLogStore(dir, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatalf("OpenLogStore: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func reopenTestLogStore(t testing.TB, s *LogStore, dir string) *LogStore {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openTestLogStore(t, dir)
}

func logStoreTestLog(index uint64) *hraft.Log {
	return &hraft.Log{
		Index:      index,
		Term:       index/10 + 1,
		Type:       hraft.LogCommand,
		Data:       []byte(fmt.Sprintf("data-%d", index)),
		Extensions: []byte(fmt.Sprintf("ext-%d", index)),
		AppendedAt: logStoreTestTime.Add(time.Duration(index)),
	}
}

func logStoreTestLogs(from, to uint64) []*hraft.Log {
	var logs []*hraft.Log
	for i := from; i <= to; i++ {
		logs = append(logs, logStoreTestLog(i))
	}
	return logs
}

func logStoreAssertEqual(t testing.TB, got, want *hraft.Log) {
	t.Helper()
	if got.Index != want.Index || got.Term != want.Term || got.Type != want.Type ||
		!bytes.Equal(got.Data, want.Data) || !bytes.Equal(got.Extensions, want.Extensions) ||
		!got.AppendedAt.Equal(want.AppendedAt) || got.AppendedAt.IsZero() != want.AppendedAt.IsZero() {
		t.Fatalf("log mismatch:\n got %+v\nwant %+v", got, want)
	}
}

func logStoreAssertBounds(t testing.TB, s *LogStore, first, last uint64) {
	t.Helper()
	f, err := s.FirstIndex()
	if err != nil {
		t.Fatalf("FirstIndex: %v", err)
	}
	l, err := s.LastIndex()
	if err != nil {
		t.Fatalf("LastIndex: %v", err)
	}
	if f != first || l != last {
		t.Fatalf("bounds = [%d, %d], want [%d, %d]", f, l, first, last)
	}
}

func logStoreAssertMissing(t testing.TB, s *LogStore, index uint64) {
	t.Helper()
	var l hraft.Log
	if err := s.GetLog(index, &l); !errors.Is(err, hraft.ErrLogNotFound) {
		t.Fatalf("GetLog(%d) err = %v, want ErrLogNotFound", index, err)
	}
}

func logStoreAssertPresent(t testing.TB, s *LogStore, want []*hraft.Log) {
	t.Helper()
	for _, w := range want {
		var got hraft.Log
		if err := s.GetLog(w.Index, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", w.Index, err)
		}
		logStoreAssertEqual(t, &got, w)
	}
}

// logStorePollUntil polls cond until it holds or the deadline passes.
func logStorePollUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLogStoreEmpty(t *testing.T) {
	s := openTestLogStore(t, t.TempDir())
	logStoreAssertBounds(t, s, 0, 0)
	logStoreAssertMissing(t, s, 0)
	logStoreAssertMissing(t, s, 1)
	if err := s.StoreLog(&hraft.Log{Index: 0}); err == nil {
		t.Fatal("StoreLog accepted index 0, which FirstIndex cannot tell from empty")
	}
	if err := s.DeleteRange(1, 10); err != nil {
		t.Fatalf("DeleteRange on empty store: %v", err)
	}
	logStoreAssertBounds(t, s, 0, 0)
}

func TestLogStoreStoreAndGet(t *testing.T) {
	type batches = [][]*hraft.Log
	noop := []*hraft.Log{{Index: 7, Term: 1, Type: hraft.LogNoop}} // nil Data, Extensions, time
	tests := []struct {
		name        string
		batches     batches // a batch of one goes through StoreLog
		want        []*hraft.Log
		first, last uint64
	}{
		{"one", batches{logStoreTestLogs(1, 1)}, logStoreTestLogs(1, 1), 1, 1},
		{"many", batches{logStoreTestLogs(1, 1024)}, logStoreTestLogs(1, 1024), 1, 1024},
		{"several batches", batches{logStoreTestLogs(1, 10), logStoreTestLogs(11, 11), logStoreTestLogs(12, 50)},
			logStoreTestLogs(1, 50), 1, 50},
		{"not starting at one", batches{logStoreTestLogs(1000, 1009)}, logStoreTestLogs(1000, 1009), 1000, 1009},
		{"overwrite keeps bounds", batches{logStoreTestLogs(1, 10), logStoreTestLogs(3, 5)}, logStoreTestLogs(1, 10), 1, 10},
		{"empty fields", batches{noop}, noop, 7, 7},
		{"empty batch", batches{nil}, nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestLogStore(t, t.TempDir())
			for _, batch := range tt.batches {
				store := s.StoreLogs
				if len(batch) == 1 {
					store = func(logs []*hraft.Log) error { return s.StoreLog(logs[0]) }
				}
				if err := store(batch); err != nil {
					t.Fatalf("store: %v", err)
				}
			}
			logStoreAssertBounds(t, s, tt.first, tt.last)
			logStoreAssertPresent(t, s, tt.want)
			logStoreAssertMissing(t, s, tt.first-1)
			logStoreAssertMissing(t, s, tt.last+1)
		})
	}
}

// A batch bigger than Badger's transaction limit (~2.4 MiB with our
// memtable size) must be split and still land completely.
func TestLogStoreStoreLogsLargerThanTxn(t *testing.T) {
	s := openTestLogStore(t, t.TempDir())
	logs := logStoreTestLogs(1, 3000)
	for _, l := range logs {
		l.Data = bytes.Repeat([]byte{byte(l.Index)}, 2048)
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatalf("StoreLogs: %v", err)
	}
	logStoreAssertBounds(t, s, 1, 3000)
	logStoreAssertPresent(t, s, logs)
}

func TestLogStoreDeleteRange(t *testing.T) {
	tests := []struct {
		name        string
		stored      uint64 // entries 1..stored
		min, max    uint64
		first, last uint64
	}{
		{name: "prefix", stored: 100, min: 1, max: 40, first: 41, last: 100},
		{name: "suffix", stored: 100, min: 60, max: 100, first: 1, last: 59},
		{name: "middle", stored: 100, min: 30, max: 50, first: 1, last: 100},
		{name: "everything", stored: 100, min: 1, max: 100, first: 0, last: 0},
		{name: "wider than the log", stored: 100, min: 0, max: math.MaxUint64, first: 0, last: 0},
		{name: "suffix past the end", stored: 100, min: 90, max: 500, first: 1, last: 89},
		{name: "outside the log", stored: 100, min: 200, max: 300, first: 1, last: 100},
		{name: "single entry", stored: 100, min: 1, max: 1, first: 2, last: 100},
		{name: "inverted range", stored: 100, min: 50, max: 40, first: 1, last: 100},
		{name: "large prefix", stored: 20000, min: 1, max: 19990, first: 19991, last: 20000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openTestLogStore(t, dir)
			all := logStoreTestLogs(1, tt.stored)
			if err := s.StoreLogs(all); err != nil {
				t.Fatalf("StoreLogs: %v", err)
			}
			if err := s.DeleteRange(tt.min, tt.max); err != nil {
				t.Fatalf("DeleteRange(%d, %d): %v", tt.min, tt.max, err)
			}
			check := func(s *LogStore) {
				t.Helper()
				logStoreAssertBounds(t, s, tt.first, tt.last)
				for _, l := range all {
					if l.Index >= tt.min && l.Index <= tt.max {
						logStoreAssertMissing(t, s, l.Index)
					} else {
						logStoreAssertPresent(t, s, []*hraft.Log{l})
					}
				}
			}
			check(s)
			s = reopenTestLogStore(t, s, dir)
			check(s)

			// Appending after the delete must extend the bounds correctly,
			// as a follower does after truncating a conflicting suffix.
			next := max(tt.last, tt.stored) + 1
			if err := s.StoreLogs(logStoreTestLogs(next, next+4)); err != nil {
				t.Fatalf("StoreLogs after delete: %v", err)
			}
			first := tt.first
			if first == 0 {
				first = next
			}
			logStoreAssertBounds(t, s, first, next+4)
		})
	}
}

func TestLogStoreReopenPersistsEverything(t *testing.T) {
	dir := t.TempDir()
	s := openTestLogStore(t, dir)
	logs := logStoreTestLogs(5, 200)
	logs[0].AppendedAt = time.Time{}
	logs[1].Type = hraft.LogConfiguration
	logs[2].Extensions = nil
	if err := s.StoreLogs(logs); err != nil {
		t.Fatalf("StoreLogs: %v", err)
	}
	if err := s.Set([]byte("LastVoteCand"), []byte("node-2")); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 42); err != nil {
		t.Fatalf("SetUint64: %v", err)
	}

	s = reopenTestLogStore(t, s, dir)
	logStoreAssertBounds(t, s, 5, 200)
	logStoreAssertPresent(t, s, logs)
	if got, err := s.Get([]byte("LastVoteCand")); err != nil || string(got) != "node-2" {
		t.Fatalf("Get after reopen = %q, %v", got, err)
	}
	if got, err := s.GetUint64([]byte("CurrentTerm")); err != nil || got != 42 {
		t.Fatalf("GetUint64 after reopen = %d, %v", got, err)
	}
}

func TestLogStoreStable(t *testing.T) {
	s := openTestLogStore(t, t.TempDir())

	if got, err := s.Get([]byte("missing")); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("Get(missing) = %#v, %v; want empty slice, nil", got, err)
	}
	if got, err := s.GetUint64([]byte("missing")); err != nil || got != 0 {
		t.Fatalf("GetUint64(missing) = %d, %v; want 0, nil", got, err)
	}

	sets := []struct {
		key, val string
	}{
		{"a", "1"},
		{"a", "overwritten"},
		{"b", ""},
		{"l/looks-like-a-log-key", "x"},
	}
	for _, kv := range sets {
		if err := s.Set([]byte(kv.key), []byte(kv.val)); err != nil {
			t.Fatalf("Set(%q): %v", kv.key, err)
		}
	}
	for key, want := range map[string]string{"a": "overwritten", "b": "", "l/looks-like-a-log-key": "x"} {
		if got, err := s.Get([]byte(key)); err != nil || string(got) != want {
			t.Fatalf("Get(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
	// Stable keys share the Badger DB but must never count as log entries.
	logStoreAssertBounds(t, s, 0, 0)

	for _, v := range []uint64{0, 1, 1 << 40, math.MaxUint64} {
		if err := s.SetUint64([]byte("n"), v); err != nil {
			t.Fatalf("SetUint64(%d): %v", v, err)
		}
		if got, err := s.GetUint64([]byte("n")); err != nil || got != v {
			t.Fatalf("GetUint64 = %d, %v; want %d", got, err, v)
		}
	}
	if _, err := s.GetUint64([]byte("a")); err == nil {
		t.Fatal("GetUint64 of a non-integer value succeeded")
	}
}

func TestLogStoreCloseIsIdempotent(t *testing.T) {
	s := openTestLogStore(t, t.TempDir())
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.StoreLog(logStoreTestLog(1)); !errors.Is(err, ErrLogStoreClosed) {
		t.Fatalf("StoreLog after Close = %v, want ErrLogStoreClosed", err)
	}
	if err := s.DeleteRange(1, 2); !errors.Is(err, ErrLogStoreClosed) {
		t.Fatalf("DeleteRange after Close = %v, want ErrLogStoreClosed", err)
	}
	var l hraft.Log
	if err := s.GetLog(1, &l); err == nil {
		t.Fatal("GetLog after Close succeeded")
	}
}

func TestLogStoreValueLogGCRunsUntilClose(t *testing.T) {
	s, err := openLogStore(t.TempDir(), zerolog.Nop(), time.Millisecond)
	if err != nil {
		t.Fatalf("openLogStore: %v", err)
	}
	defer s.Close()
	// Entries above the value threshold land in the value log, then are
	// deleted, so GC has something to look at while the test runs.
	logs := logStoreTestLogs(1, 50)
	for _, l := range logs {
		l.Data = bytes.Repeat([]byte{'v'}, 16<<10)
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatalf("StoreLogs: %v", err)
	}
	if err := s.DeleteRange(1, 40); err != nil {
		t.Fatalf("DeleteRange: %v", err)
	}
	logStorePollUntil(t, 10*time.Second, "two value-log GC passes", func() bool {
		return s.gcPasses.Load() >= 2
	})
	logStoreAssertPresent(t, s, logs[40:])
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-s.gcDone:
	default:
		t.Fatal("GC goroutine still running after Close")
	}
}

// Raft reads (replication, FirstIndex/LastIndex) run concurrently with the
// leader's appends and compaction; -race checks the bounds cache.
func TestLogStoreConcurrentReadsAndWrites(t *testing.T) {
	s := openTestLogStore(t, t.TempDir())
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var l hraft.Log
			for {
				select {
				case <-done:
					return
				default:
				}
				last, _ := s.LastIndex()
				if last == 0 {
					continue
				}
				if err := s.GetLog(last, &l); err != nil && !errors.Is(err, hraft.ErrLogNotFound) {
					t.Errorf("GetLog(%d): %v", last, err)
					return
				}
			}
		}()
	}
	for i := uint64(0); i < 50; i++ {
		if err := s.StoreLogs(logStoreTestLogs(i*20+1, i*20+20)); err != nil {
			t.Fatalf("StoreLogs: %v", err)
		}
		if i%10 == 9 {
			if err := s.DeleteRange(1, i*20); err != nil {
				t.Fatalf("DeleteRange: %v", err)
			}
		}
	}
	close(done)
	wg.Wait()
	logStoreAssertBounds(t, s, 981, 1000)
}

func TestLogEntryRoundTrip(t *testing.T) {
	types := []hraft.LogType{
		hraft.LogCommand, hraft.LogNoop, hraft.LogAddPeerDeprecated,
		hraft.LogRemovePeerDeprecated, hraft.LogBarrier, hraft.LogConfiguration,
		200, // a type a future raft may add must survive too
	}
	shapes := []struct {
		name string
		log  hraft.Log
	}{
		{"full", hraft.Log{Index: 12, Term: 3, Data: []byte("payload"), Extensions: []byte{0, 1, 2}, AppendedAt: logStoreTestTime}},
		{"zero", hraft.Log{}},
		{"max", hraft.Log{Index: math.MaxUint64, Term: math.MaxUint64, Data: bytes.Repeat([]byte{0xff}, 70000)}},
		{"before epoch", hraft.Log{Index: 1, Term: 1, AppendedAt: time.Date(1960, 1, 1, 0, 0, 0, 1, time.UTC)}},
	}
	for _, typ := range types {
		for _, shape := range shapes {
			t.Run(fmt.Sprintf("%s/%s", typ, shape.name), func(t *testing.T) {
				in := shape.log
				in.Type = typ
				enc := appendLogEntry(nil, &in)
				if max := logEntryOverhead + len(in.Data) + len(in.Extensions); len(enc) > max {
					t.Fatalf("encoded %d bytes, more than the %d StoreLogs reserves", len(enc), max)
				}
				var out hraft.Log
				if err := decodeLogEntry(enc, &out); err != nil {
					t.Fatalf("decode: %v", err)
				}
				logStoreAssertEqual(t, &out, &in)
			})
		}
	}
}

// The on-disk format must not change by accident: a node upgraded in place
// reads the log written by the old binary.
func TestLogEntryGoldenEncoding(t *testing.T) {
	in := hraft.Log{
		Index:      300,
		Term:       7,
		Type:       hraft.LogConfiguration,
		Data:       []byte("hi"),
		Extensions: []byte{0xab},
		AppendedAt: time.Unix(1700000000, 123),
	}
	const golden = "01" + // version
		"ac02" + // index 300
		"07" + // term
		"05" + // LogConfiguration
		"02" + "6869" + // data "hi"
		"01" + "ab" + // extensions
		"f681d0e2c6bfce972f" // zigzag varint of 1700000000000000123 ns
	if got := hex.EncodeToString(appendLogEntry(nil, &in)); got != golden {
		t.Fatalf("encoding changed:\n got %s\nwant %s", got, golden)
	}
	raw, _ := hex.DecodeString(golden)
	var out hraft.Log
	if err := decodeLogEntry(raw, &out); err != nil {
		t.Fatalf("decode golden: %v", err)
	}
	logStoreAssertEqual(t, &out, &in)

	if got := hex.EncodeToString(logKey(0x0102030405060708)); got != hex.EncodeToString([]byte("l/"))+"0102030405060708" {
		t.Fatalf("log key layout changed: %s", got)
	}
}

func TestDecodeLogEntryRejectsCorruptInput(t *testing.T) {
	valid := appendLogEntry(nil, &hraft.Log{
		Index: 1 << 20, Term: 9, Data: []byte("data"), Extensions: []byte("ext"), AppendedAt: logStoreTestTime,
	})
	cases := map[string][]byte{
		"empty":             {},
		"unknown version":   append([]byte{2}, valid[1:]...),
		"trailing bytes":    append(append([]byte(nil), valid...), 0),
		"overlong index":    append([]byte{1}, bytes.Repeat([]byte{0xff}, 11)...),
		"data past the end": {1, 1, 1, 0, 0x80, 0x80, 0x04, 'x'},
		"huge length":       {1, 1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"garbage":           []byte("not a log entry at all"),
	}
	for i := range len(valid) {
		cases[fmt.Sprintf("truncated to %d bytes", i)] = valid[:i]
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			var l hraft.Log
			if err := decodeLogEntry(in, &l); !errors.Is(err, ErrCorruptLogEntry) {
				t.Fatalf("decode(%x) err = %v, want ErrCorruptLogEntry", in, err)
			}
		})
	}
}

func FuzzDecodeLogEntry(f *testing.F) {
	f.Add(appendLogEntry(nil, logStoreTestLog(1)))
	f.Add(appendLogEntry(nil, &hraft.Log{}))
	f.Add([]byte{1, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		var l hraft.Log
		if err := decodeLogEntry(in, &l); err != nil {
			return
		}
		// Varints may arrive padded, so compare entries, not bytes: what
		// was accepted must survive a write and read back unchanged.
		var again hraft.Log
		if err := decodeLogEntry(appendLogEntry(nil, &l), &again); err != nil {
			t.Fatalf("re-decode of %x: %v", in, err)
		}
		logStoreAssertEqual(t, &again, &l)
	})
}

// BenchmarkStoreLogs measures durable appends: every StoreLogs call pays one
// fsync, so larger group-commit batches amortise it.
func BenchmarkStoreLogs(b *testing.B) {
	for _, batch := range []int{1, 64, 512} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := openTestLogStore(b, b.TempDir())
			data := bytes.Repeat([]byte{'x'}, 1024)
			logs := make([]*hraft.Log, batch)
			for i := range logs {
				logs[i] = &hraft.Log{Term: 1, Type: hraft.LogCommand, Data: data, AppendedAt: time.Now()}
			}
			var next uint64 = 1
			b.SetBytes(int64(batch * len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for _, l := range logs {
					l.Index = next
					next++
				}
				if err := s.StoreLogs(logs); err != nil {
					b.Fatalf("StoreLogs: %v", err)
				}
			}
			b.ReportMetric(float64(next-1)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// startLogStoreTestRaft runs a single-node raft on store and waits until it
// leads.
func startLogStoreTestRaft(t *testing.T, store *LogStore, fsm hraft.FSM, bootstrap bool) *hraft.Raft {
	t.Helper()
	cfg := hraft.DefaultConfig()
	cfg.LocalID = "node1"
	cfg.HeartbeatTimeout = 50 * time.Millisecond
	cfg.ElectionTimeout = 50 * time.Millisecond
	cfg.LeaderLeaseTimeout = 50 * time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
	cfg.Logger = NewHCLogger(zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel), "raft")
	addr, trans := hraft.NewInmemTransport("node1")
	r, err := hraft.NewRaft(cfg, fsm, store, store, hraft.NewInmemSnapshotStore(), trans)
	if err != nil {
		t.Fatalf("NewRaft: %v", err)
	}
	if bootstrap {
		conf := hraft.Configuration{Servers: []hraft.Server{{ID: cfg.LocalID, Address: addr}}}
		if err := r.BootstrapCluster(conf).Error(); err != nil {
			t.Fatalf("BootstrapCluster: %v", err)
		}
	}
	logStorePollUntil(t, 10*time.Second, "raft leadership", func() bool { return r.State() == hraft.Leader })
	return r
}

// hashicorp/raft itself must accept the store: bootstrap, replicate, and
// after a restart find its log, term and configuration where it left them.
func TestLogStoreUnderHashicorpRaft(t *testing.T) {
	dir := t.TempDir()
	store := openTestLogStore(t, dir)
	r := startLogStoreTestRaft(t, store, &hraft.MockFSM{}, true)
	const commands = 100
	futures := make([]hraft.ApplyFuture, commands)
	for i := range futures {
		futures[i] = r.Apply([]byte(fmt.Sprintf("cmd-%d", i)), 5*time.Second)
	}
	for i, f := range futures {
		if err := f.Error(); err != nil {
			t.Fatalf("Apply %d: %v", i, err)
		}
	}
	lastBefore, termBefore := r.LastIndex(), r.CurrentTerm()
	if err := r.Shutdown().Error(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	store = reopenTestLogStore(t, store, dir)
	if last, _ := store.LastIndex(); last < lastBefore {
		t.Fatalf("LastIndex after reopen = %d, want >= %d", last, lastBefore)
	}
	if term, err := store.GetUint64([]byte("CurrentTerm")); err != nil || term != termBefore {
		t.Fatalf("persisted term = %d, %v; want %d", term, err, termBefore)
	}
	if ok, err := hraft.HasExistingState(store, store, hraft.NewInmemSnapshotStore()); err != nil || !ok {
		t.Fatalf("HasExistingState = %v, %v; want true", ok, err)
	}

	fsm := &hraft.MockFSM{}
	r = startLogStoreTestRaft(t, store, fsm, false)
	defer func() {
		if err := r.Shutdown().Error(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}()
	if term := r.CurrentTerm(); term <= termBefore {
		t.Fatalf("term after restart = %d, want > %d", term, termBefore)
	}
	// No snapshot was taken, so the new FSM is rebuilt from the stored log.
	logStorePollUntil(t, 10*time.Second, "log replay into the FSM", func() bool { return len(fsm.Logs()) == commands })
	if got := string(fsm.Logs()[commands-1]); got != fmt.Sprintf("cmd-%d", commands-1) {
		t.Fatalf("last replayed command = %q", got)
	}
	if err := r.Apply([]byte("after restart"), 5*time.Second).Error(); err != nil {
		t.Fatalf("Apply after restart: %v", err)
	}
	if last := r.LastIndex(); last <= lastBefore {
		t.Fatalf("LastIndex after restart = %d, want > %d", last, lastBefore)
	}
}

// TestLogStoreBytes checks the sizes the snapshot policy reads: Written
// counts what was stored since open, BytesAfter what is kept after an
// index, both at least the entries' data, and they agree.
func TestLogStoreBytes(t *testing.T) {
	s := openTestLogStore(t, t.TempDir())
	var logs []*hraft.Log
	for i := uint64(1); i <= 10; i++ {
		logs = append(logs, &hraft.Log{Index: i, Term: 1, Type: hraft.LogCommand, Data: make([]byte, 1000*i)})
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	dataAfter := func(i uint64) (n int64) {
		for _, l := range logs[i:] {
			n += int64(len(l.Data))
		}
		return n
	}
	written := s.Written()
	all, err := s.BytesAfter(0)
	if err != nil {
		t.Fatal(err)
	}
	if all < dataAfter(0) || written < all || written > all+int64(len(logs)*(logEntryOverhead+logKeyLen)) {
		t.Errorf("Written %d, BytesAfter(0) %d, data %d: want data <= BytesAfter(0) <= Written, close", written, all, dataAfter(0))
	}
	after7, err := s.BytesAfter(7)
	if err != nil {
		t.Fatal(err)
	}
	if after7 < dataAfter(7) || after7 > dataAfter(7)+3*int64(logEntryOverhead+logKeyLen) {
		t.Errorf("BytesAfter(7) = %d, want about %d", after7, dataAfter(7))
	}
	if n, err := s.BytesAfter(10); err != nil || n != 0 {
		t.Errorf("BytesAfter(last) = %d, %v; want 0", n, err)
	}
}

package raft

import (
	"bytes"
	"fmt"
	"github.com/herald-webhooks/herald/internal/testutil"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/herald-webhooks/herald/storage"
)

// checkFor polls with a deadline (testutil.CheckFor).
var checkFor = testutil.CheckFor

// quietLogger logs warnings and errors to the test until its cleanups have
// run, then drops them: raft and Badger goroutines may log after a test
// returns, and t.Log panics then.
func quietLogger(t testing.TB) zerolog.Logger {
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

// openStateStore opens a state store in dir (a new temporary one when dir
// is empty) and closes it when the test ends.
func openStateStore(t testing.TB, dir string) *storage.Store {
	t.Helper()
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "state")
	}
	s, err := storage.Open(dir, quietLogger(t))
	if err != nil {
		t.Fatalf("storage.Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// stateDump is every key and value of the store, as its snapshot stream
// (keys in order, so equal states give equal bytes).
func stateDump(t testing.TB, s *storage.Store) []byte {
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

func assertSameDump(t testing.TB, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("state differs: %d bytes, want %d\n got %q\nwant %q", len(got), len(want), clip(got), clip(want))
	}
}

// withoutApplied blanks the applied index in a state dump, for comparing
// states that differ only in it.
func withoutApplied(dump []byte) []byte {
	marker := []byte("\x0cmeta/applied\x08")
	out := bytes.Clone(dump)
	if len(out) >= 16 {
		clear(out[8:16]) // the header's copy of the index
	}
	if i := bytes.Index(out, marker); i >= 0 {
		clear(out[i+len(marker) : i+len(marker)+8])
	}
	return out
}

func clip(b []byte) []byte {
	if len(b) > 2000 {
		return b[:2000]
	}
	return b
}

// commandLog is a committed raft entry carrying cmd.
func commandLog(index uint64, cmd Command) *hraft.Log {
	return &hraft.Log{Index: index, Term: 1, Type: hraft.LogCommand, Data: Encode(cmd)}
}

// readState runs fn on a read view of s.
func readState(t testing.TB, s *storage.Store, fn func(r *storage.Reader) error) {
	t.Helper()
	if err := s.View(fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// testApp, testEndpoint and testMessage build small valid records.
func testApp(id string) storage.App { return storage.App{ID: id, Name: "app " + id} }

func testEndpoint(appID, id string) storage.Endpoint {
	return storage.Endpoint{ID: id, AppID: appID, URL: "https://example.com/" + id}
}

func testMessage(appID, id string, tsMs int64) storage.NewMessage {
	return storage.NewMessage{Message: storage.Message{ID: id, AppID: appID, EventType: "e", Payload: []byte(`{}`), Timestamp: tsMs * 1e6}}
}

// nodeConfig is a single-node configuration with short timeouts.
func nodeConfig(dir, addr string) Config {
	return Config{
		NodeID:             "node-1",
		BindAddr:           addr,
		Dir:                dir,
		HeartbeatTimeout:   200 * time.Millisecond,
		ElectionTimeout:    200 * time.Millisecond,
		LeaderLeaseTimeout: 100 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		ApplyTimeout:       5 * time.Second,
	}
}

// openNode opens a node and closes it when the test ends (Close is safe to
// call again).
func openNode(t testing.TB, cfg Config, store *storage.Store, hooks Hooks, bootstrap bool) *Node {
	t.Helper()
	n, err := Open(cfg, store, hooks, bootstrap, quietLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func waitLeader(t testing.TB, n *Node) {
	t.Helper()
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !n.IsLeader() {
			return fmt.Errorf("node %s is %v, not leader", n.ID(), n.Raft().State())
		}
		return nil
	})
}

// mustApply replicates cmd and returns its response.
func mustApply(t testing.TB, n *Node, cmd Command) any {
	t.Helper()
	resp, err := n.Apply(cmd)
	if err != nil {
		t.Fatalf("Apply %T: %v", cmd, err)
	}
	return resp
}

// bufferSink is a raft snapshot sink in memory.
type bufferSink struct {
	bytes.Buffer
	closed, canceled bool
	failWrites       bool
}

func (s *bufferSink) Write(p []byte) (int, error) {
	if s.failWrites {
		return 0, fmt.Errorf("sink full")
	}
	return s.Buffer.Write(p)
}
func (s *bufferSink) ID() string    { return "test" }
func (s *bufferSink) Close() error  { s.closed = true; return nil }
func (s *bufferSink) Cancel() error { s.canceled = true; return nil }

var _ hraft.SnapshotSink = (*bufferSink)(nil)

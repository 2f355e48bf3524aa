package raft

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/herald-webhooks/herald/storage"
)

// applyWorkload replicates apps, endpoints, messages and outcomes through n;
// round tells calls apart so each adds new records.
func applyWorkload(t *testing.T, n *Node, round int) {
	t.Helper()
	app := fmt.Sprintf("app_%d", round)
	if res := mustApply(t, n, &CreateApp{Meta: Meta{Time: int64(round)}, App: testApp(app)}); !resultsEqual(res, Result{}) {
		t.Fatalf("CreateApp = %#v", res)
	}
	for e := range 2 {
		ep := fmt.Sprintf("ep_%d_%d", round, e)
		if res := mustApply(t, n, &CreateEndpoint{Endpoint: testEndpoint(app, ep)}); !resultsEqual(res, Result{}) {
			t.Fatalf("CreateEndpoint = %#v", res)
		}
	}
	var items []MessageItem
	for m := range 5 {
		items = append(items, MessageItem{Meta: Meta{Time: int64(round)}, Message: testMessage(app, fmt.Sprintf("msg_%d_%d", round, m), int64(1000*round+m))})
	}
	res := mustApply(t, n, &CreateMessages{Items: items})
	if got, ok := res.([]Result); !ok || len(got) != 5 || got[0].Fanout != 2 {
		t.Fatalf("CreateMessages = %#v", res)
	}
	mustApply(t, n, &RecordOutcomes{Outcomes: []storage.Outcome{{
		Key:       storage.ScheduleKey{DueMs: int64(1000 * round), MsgID: fmt.Sprintf("msg_%d_0", round), EndpointID: fmt.Sprintf("ep_%d_0", round)},
		AttemptNo: 1, Attempt: storage.Attempt{ID: fmt.Sprintf("atmpt_%d", round), AppID: app, MsgID: fmt.Sprintf("msg_%d_0", round),
			EndpointID: fmt.Sprintf("ep_%d_0", round), StatusCode: 200, Status: storage.StatusSuccess},
		Final: storage.StatusSuccess,
	}}})
}

func TestNodeNotLeader(t *testing.T) {
	store := openStateStore(t, "")
	// Not bootstrapped and never joined: a follower with no cluster.
	n := openNode(t, nodeConfig(t.TempDir(), "127.0.0.1:0"), store, Hooks{}, false)
	if _, err := n.Apply(&CreateApp{App: testApp("app_1")}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Apply on a follower = %v, want ErrNotLeader", err)
	}
	if n.IsLeader() {
		t.Fatalf("IsLeader on a lone follower")
	}
	if addr, id := n.Leader(); addr != "" || id != "" {
		t.Fatalf("Leader = %q, %q", addr, id)
	}
}

func TestNodeLeadershipAndApply(t *testing.T) {
	store := openStateStore(t, "")
	var scheduled []int64
	var mu sync.Mutex
	n := openNode(t, nodeConfig(t.TempDir(), "127.0.0.1:0"), store, Hooks{Scheduled: func(ms int64) {
		mu.Lock()
		scheduled = append(scheduled, ms)
		mu.Unlock()
	}}, true)
	var changes []bool
	var cmu sync.Mutex
	n.OnLeadership(func(leader bool) { cmu.Lock(); changes = append(changes, leader); cmu.Unlock() })
	waitLeader(t, n)
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		cmu.Lock()
		defer cmu.Unlock()
		if len(changes) != 1 || !changes[0] {
			return fmt.Errorf("leadership callbacks %v, want [true]", changes)
		}
		return nil
	})
	if addr, id := n.Leader(); addr != n.RaftAddr() || id != "node-1" {
		t.Fatalf("Leader = %q, %q; want %q, node-1", addr, id, n.RaftAddr())
	}
	applyWorkload(t, n, 1)
	mu.Lock()
	if len(scheduled) == 0 || scheduled[0] != 1000 {
		t.Errorf("Scheduled hook calls = %v, want first 1000", scheduled)
	}
	mu.Unlock()

	// Async apply and its error mapping.
	f := n.ApplyAsync(&DeleteApp{AppID: "app_none"})
	if res, err := n.Wait(f); err != nil || !resultsEqual(res, Result{Err: storage.ErrNotFound}) {
		t.Fatalf("Wait = %#v, %v", res, err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	cmu.Lock()
	defer cmu.Unlock()
	if len(changes) != 2 || changes[1] {
		t.Fatalf("leadership callbacks after Close = %v, want [true false]", changes)
	}
	for i := range 20 {
		// raft may queue an apply made after its shutdown and never answer
		// it; the node must answer instead.
		errc := make(chan error, 1)
		go func() { _, err := n.Apply(&DeleteApp{AppID: "x"}); errc <- err }()
		select {
		case err := <-errc:
			if !errors.Is(err, ErrShutdown) {
				t.Fatalf("Apply %d after Close = %v, want ErrShutdown", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Apply %d after Close never returned", i)
		}
	}
}

// TestNodeSnapshotRestoresIntoAFreshStore takes a snapshot through raft and
// restores it into a new store through a second FSM.
func TestNodeSnapshotRestoresIntoAFreshStore(t *testing.T) {
	dir := t.TempDir()
	store := openStateStore(t, "")
	n := openNode(t, nodeConfig(dir, "127.0.0.1:0"), store, Hooks{}, true)
	waitLeader(t, n)
	applyWorkload(t, n, 1)
	applyWorkload(t, n, 2)
	if err := n.Barrier(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	want := stateDump(t, store)
	applied := store.AppliedIndex()
	if err := n.Snapshot(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}

	snaps, err := hraft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	metas, err := snaps.List()
	if err != nil || len(metas) != 1 {
		t.Fatalf("snapshots = %v, %v", metas, err)
	}
	if metas[0].Index < applied {
		t.Fatalf("snapshot index %d below the applied index %d", metas[0].Index, applied)
	}
	_, rc, err := snaps.Open(metas[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	restored := false
	fresh := openStateStore(t, "")
	if err := NewFSM(fresh, Hooks{Restored: func() { restored = true }}, quietLogger(t)).Restore(rc); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	assertSameDump(t, stateDump(t, fresh), want)
	if fresh.AppliedIndex() != applied || !restored {
		t.Fatalf("restored AppliedIndex = %d (want %d), hook called %v", fresh.AppliedIndex(), applied, restored)
	}
}

// restartNode closes n and its store and opens both again on the same
// directories and address.
func restartNode(t *testing.T, n *Node, store *storage.Store, cfg Config) (*Node, *storage.Store) {
	t.Helper()
	cfg.BindAddr = n.RaftAddr()
	stateDir := store.Dir()
	if err := n.Close(); err != nil {
		t.Fatalf("Close node: %v", err)
	}
	if err := store.Close(); err != nil {
		t.Fatalf("Close store: %v", err)
	}
	store = openStateStore(t, stateDir)
	n = openNode(t, cfg, store, Hooks{}, true)
	waitLeader(t, n)
	if err := n.Barrier(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	return n, store
}

func TestNodeRestartKeepsState(t *testing.T) {
	cfg := nodeConfig(t.TempDir(), "127.0.0.1:0")
	store := openStateStore(t, "")
	n := openNode(t, cfg, store, Hooks{}, true)
	waitLeader(t, n)
	applyWorkload(t, n, 1)
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	applyWorkload(t, n, 2) // a log tail after the snapshot
	if err := n.Barrier(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	want := stateDump(t, store)
	applied := store.AppliedIndex()
	lastIndex := n.Raft().LastIndex()

	n, store = restartNode(t, n, store, cfg)
	if store.AppliedIndex() < applied {
		t.Fatalf("AppliedIndex went back: %d < %d", store.AppliedIndex(), applied)
	}
	assertSameDump(t, stateDump(t, store), want)
	if n.Raft().LastIndex() <= lastIndex {
		t.Fatalf("raft LastIndex %d after restart, want > %d", n.Raft().LastIndex(), lastIndex)
	}
	// And it goes on applying after the old entries.
	applyWorkload(t, n, 3)
	if store.AppliedIndex() <= applied {
		t.Fatalf("AppliedIndex %d after new writes, want > %d", store.AppliedIndex(), applied)
	}
	readState(t, store, func(r *storage.Reader) error {
		for _, app := range []string{"app_1", "app_2", "app_3"} {
			if _, err := r.App(app); err != nil {
				t.Errorf("app %s: %v", app, err)
			}
		}
		return nil
	})
}

// TestNodeCatchesUpFromSnapshot loses the whole state directory: on open
// the node must restore its latest snapshot, because raft (with
// NoSnapshotRestoreOnStart) replays only the log after it.
func TestNodeCatchesUpFromSnapshot(t *testing.T) {
	cfg := nodeConfig(t.TempDir(), "127.0.0.1:0")
	stateDir := filepath.Join(t.TempDir(), "state")
	store := openStateStore(t, stateDir)
	n := openNode(t, cfg, store, Hooks{}, true)
	waitLeader(t, n)
	applyWorkload(t, n, 1)
	applyWorkload(t, n, 2)
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	snapApplied := store.AppliedIndex()
	applyWorkload(t, n, 3) // the log tail
	if err := n.Barrier(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	want := stateDump(t, store)
	applied := store.AppliedIndex()
	if applied <= snapApplied {
		t.Fatalf("no tail after the snapshot: %d <= %d", applied, snapApplied)
	}

	cfg.BindAddr = n.RaftAddr()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(stateDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	store = openStateStore(t, stateDir)
	if store.AppliedIndex() != 0 {
		t.Fatalf("empty state AppliedIndex = %d", store.AppliedIndex())
	}
	n = openNode(t, cfg, store, Hooks{}, true)
	// Open restored the snapshot before raft started.
	if store.AppliedIndex() < snapApplied {
		t.Fatalf("AppliedIndex after Open = %d, want >= %d (the snapshot's)", store.AppliedIndex(), snapApplied)
	}
	waitLeader(t, n)
	if err := n.Barrier(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	assertSameDump(t, stateDump(t, store), want)
	if store.AppliedIndex() != applied {
		t.Fatalf("AppliedIndex = %d, want %d", store.AppliedIndex(), applied)
	}
}

// TestNodeCloseAnswersEveryApply closes the node while goroutines apply:
// every Apply must return (hashicorp/raft leaves applies that are still
// queued at shutdown unanswered).
func TestNodeCloseAnswersEveryApply(t *testing.T) {
	store := openStateStore(t, "")
	n := openNode(t, nodeConfig(t.TempDir(), "127.0.0.1:0"), store, Hooks{}, true)
	waitLeader(t, n)
	const workers = 16
	var wg sync.WaitGroup
	done := make(chan struct{})
	var applied sync.WaitGroup
	applied.Add(workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for i := 0; ; i++ {
				_, err := n.Apply(&PutNode{Node: storage.Node{ID: fmt.Sprintf("n%d-%d", w, i)}})
				if first {
					applied.Done()
					first = false
				}
				switch {
				case err == nil:
				case errors.Is(err, ErrShutdown), errors.Is(err, ErrUnknownOutcome), errors.Is(err, ErrNotLeader):
					return
				default:
					t.Errorf("Apply = %v", err)
					return
				}
			}
		}()
	}
	applied.Wait()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("Apply calls still blocked 10s after Close")
	}
	if err := n.Barrier(time.Second); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Barrier after Close = %v, want ErrShutdown", err)
	}
}

package raft

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
)

// TestSnapshotPolicy checks when a node snapshots: after SnapshotThreshold
// entries, but only once the log written since the last snapshot is at
// least as large as it.
func TestSnapshotPolicy(t *testing.T) {
	cfg := nodeConfig(t.TempDir(), "127.0.0.1:0")
	cfg.SnapshotThreshold = 8
	cfg.SnapshotInterval = 20 * time.Millisecond
	cfg.TrailingLogs = 4
	store := openStateStore(t, "")
	n := openNode(t, cfg, store, Hooks{}, true)
	waitLeader(t, n)
	// Below the threshold until the small entries below: the first
	// snapshot holds the large messages.
	mustApply(t, n, &CreateApp{App: testApp("app_1")})

	// A state of about 256 KiB.
	big := `"` + strings.Repeat("x", 64<<10) + `"`
	applyBig := func(round, count int) {
		t.Helper()
		var items []MessageItem
		for i := range count {
			m := testMessage("app_1", fmt.Sprintf("big_%d_%d", round, i), int64(round))
			m.Payload = []byte(big)
			items = append(items, MessageItem{Message: m})
		}
		mustApply(t, n, &CreateMessages{Items: items})
	}
	applyBig(1, 4)
	for i := range 8 {
		mustApply(t, n, &CreateApp{App: testApp(fmt.Sprintf("app_small_%d", i))})
	}
	var first hraft.SnapshotMeta
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		metas, err := n.snapshots.List()
		if err != nil || len(metas) == 0 || metas[0].Size < 256<<10 {
			return fmt.Errorf("no snapshot of the 256 KiB state yet (%d snapshots, %v)", len(metas), err)
		}
		first = *metas[0]
		return nil
	})

	// Many entries, few bytes: no snapshot, however often the loop looks.
	for i := range 3 * int(cfg.SnapshotThreshold) {
		mustApply(t, n, &CreateApp{App: testApp(fmt.Sprintf("app_more_%d", i))})
	}
	seen := n.snapshotChecks.Load()
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n.snapshotChecks.Load() < seen+5 {
			return fmt.Errorf("snapshot policy checked %d times", n.snapshotChecks.Load()-seen)
		}
		return nil
	})
	if metas, _ := n.snapshots.List(); len(metas) != 1 || metas[0].ID != first.ID {
		t.Fatalf("a snapshot was taken after %d small entries: %v", 3*cfg.SnapshotThreshold, metas)
	}

	// As many log bytes as the snapshot holds: the next one is taken.
	applyBig(2, 5)
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		metas, err := n.snapshots.List()
		if err != nil || len(metas) == 0 || metas[0].ID == first.ID {
			return fmt.Errorf("no new snapshot yet (%v)", err)
		}
		return nil
	})
}

// TestNoSnapshotOnFullDisk: a snapshot due while the disk check refuses
// waits until it allows again.
func TestNoSnapshotOnFullDisk(t *testing.T) {
	cfg := nodeConfig(t.TempDir(), "127.0.0.1:0")
	cfg.SnapshotThreshold = 4
	cfg.SnapshotInterval = time.Hour // the test calls the policy itself
	var full atomic.Bool
	cfg.DiskCheck = func() error {
		if full.Load() {
			return errors.New("disk full")
		}
		return nil
	}
	store := openStateStore(t, "")
	n := openNode(t, cfg, store, Hooks{}, true)
	waitLeader(t, n)
	for i := range 8 {
		mustApply(t, n, &CreateApp{App: testApp(fmt.Sprintf("app_%d", i))})
	}
	full.Store(true)
	base := int64(0)
	n.maybeSnapshot(&base)
	if metas, _ := n.snapshots.List(); len(metas) != 0 {
		t.Fatalf("snapshot taken on a full disk: %v", metas)
	}
	full.Store(false)
	n.maybeSnapshot(&base)
	if metas, _ := n.snapshots.List(); len(metas) != 1 {
		t.Fatalf("%d snapshots once the disk has room, want 1", len(metas))
	}
}

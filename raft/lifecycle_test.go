package raft

import (
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/herald-webhooks/herald/storage"
)

func TestSnapshotTime(t *testing.T) {
	if got := snapshotTime("3-8192-1700000000123"); !got.Equal(time.UnixMilli(1700000000123)) {
		t.Fatalf("snapshotTime = %v", got)
	}
	if got := snapshotTime("garbage"); !got.IsZero() {
		t.Fatalf("snapshotTime(garbage) = %v, want zero", got)
	}
}

// TestDiskCheckRefusesEntries: while the disk check fails, Apply is refused
// before anything reaches the log, the log store refuses appends, and both
// work again once it passes.
func TestDiskCheckRefusesEntries(t *testing.T) {
	var full atomic.Bool
	check := func() error {
		if full.Load() {
			return storage.ErrDiskFull
		}
		return nil
	}
	dir := t.TempDir()
	cfg := nodeConfig(dir, "127.0.0.1:0")
	cfg.DiskCheck = check
	n := openNode(t, cfg, openStateStore(t, filepath.Join(dir, "state")), Hooks{}, true)
	waitLeader(t, n)
	mustApply(t, n, &CreateApp{App: testApp("app_1")})

	full.Store(true)
	last := n.LogEntries()
	if _, err := n.Apply(&CreateApp{App: testApp("app_2")}); !errors.Is(err, storage.ErrDiskFull) {
		t.Fatalf("Apply on a full disk = %v, want ErrDiskFull", err)
	}
	if err := n.logs.StoreLogs([]*hraft.Log{{Index: 1 << 40, Type: hraft.LogCommand}}); !errors.Is(err, storage.ErrDiskFull) {
		t.Fatalf("StoreLogs on a full disk = %v, want ErrDiskFull", err)
	}
	if got := n.LogEntries(); got != last {
		t.Fatalf("log entries %d -> %d while refusing", last, got)
	}
	full.Store(false)
	mustApply(t, n, &CreateApp{App: testApp("app_2")})
	if at, idx := n.LastSnapshot(); !at.IsZero() || idx != 0 {
		t.Fatalf("LastSnapshot with none taken = %v, %d", at, idx)
	}
}

package raft

import (
	"testing"
	"time"
)

func TestSnapshotTime(t *testing.T) {
	if got := snapshotTime("3-8192-1700000000123"); !got.Equal(time.UnixMilli(1700000000123)) {
		t.Fatalf("snapshotTime = %v", got)
	}
	if got := snapshotTime("garbage"); !got.IsZero() {
		t.Fatalf("snapshotTime(garbage) = %v, want zero", got)
	}
}

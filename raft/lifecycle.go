package raft

import (
	"strconv"
	"strings"
	"time"
)

// LogEntries returns how many entries the log store holds: what snapshots
// and truncation keep bounded.
func (n *Node) LogEntries() uint64 {
	first, _ := n.logs.FirstIndex()
	last, _ := n.logs.LastIndex()
	if first == 0 || last < first {
		return 0
	}
	return last - first + 1
}

// LastSnapshot returns when the newest snapshot on disk was taken and the
// index it covers; a zero time when there is none.
func (n *Node) LastSnapshot() (time.Time, uint64) {
	metas, err := n.snapshots.List()
	if err != nil || len(metas) == 0 {
		return time.Time{}, 0
	}
	return snapshotTime(metas[0].ID), metas[0].Index
}

// snapshotTime reads the time hashicorp/raft's file store puts at the end
// of a snapshot's id (term-index-unixms).
func snapshotTime(id string) time.Time {
	ms, err := strconv.ParseInt(id[strings.LastIndexByte(id, '-')+1:], 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

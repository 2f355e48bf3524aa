package raft

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
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

// SeedSnapshot starts the Raft state of a node restored from a backup: a
// snapshot at index (the backup's applied index) whose configuration is
// this node alone, written to dir/snapshots. The caller writes the state
// snapshot into the sink and closes it. The node then starts from that
// index as a one-node cluster (others join it), and, its state already
// holding the index, applies only what comes after.
func SeedSnapshot(dir, nodeID, raftAddr string, index uint64) (hraft.SnapshotSink, error) {
	store, err := hraft.NewFileSnapshotStoreWithLogger(dir, 2, hclog.NewNullLogger())
	if err != nil {
		return nil, fmt.Errorf("seed snapshot: %w", err)
	}
	addr, trans := hraft.NewInmemTransport(hraft.ServerAddress(raftAddr))
	defer trans.Close()
	conf := hraft.Configuration{Servers: []hraft.Server{{Suffrage: hraft.Voter, ID: hraft.ServerID(nodeID), Address: addr}}}
	sink, err := store.Create(hraft.SnapshotVersionMax, index, 1, conf, index, trans)
	if err != nil {
		return nil, fmt.Errorf("seed snapshot: %w", err)
	}
	return sink, nil
}

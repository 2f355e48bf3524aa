package raft

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/storage"
)

// TestRecoverFromPeersFile: a node whose cluster is gone for good (here:
// configured with a second member that never comes back, so it has no
// quorum) is recovered by writing peers.json with itself alone; it becomes
// leader again with its state intact, and the file is applied only once.
func TestRecoverFromPeersFile(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := nodeConfig(dir, addr)
	store := openStateStore(t, "")
	n := openNode(t, cfg, store, Hooks{}, true)
	waitLeader(t, n)
	applyWorkload(t, n, 1)
	// A second voter that will never answer: from now on no quorum.
	if err := n.Raft().AddVoter("ghost", "127.0.0.1:1", 0, 5*time.Second).Error(); err != nil {
		t.Fatalf("add ghost voter: %v", err)
	}
	want := withoutApplied(stateDump(t, store))
	stateDir := store.Dir()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	store.Close()

	// Without recovery the node cannot lead: half of two is no quorum. It
	// stays a candidate (terms go up, no leader).
	store = openStateStore(t, stateDir)
	n = openNode(t, cfg, store, Hooks{}, false)
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n.Raft().State().String() != "Candidate" {
			return fmt.Errorf("state %v, want a candidate stuck without a quorum", n.Raft().State())
		}
		return nil
	})
	if n.IsLeader() {
		t.Fatalf("became leader without a quorum")
	}
	n.Close()
	store.Close()

	peers := fmt.Sprintf(`[{"id": %q, "address": %q, "non_voter": false}]`, cfg.NodeID, addr)
	if err := os.WriteFile(filepath.Join(dir, PeersFile), []byte(peers), 0o600); err != nil {
		t.Fatal(err)
	}
	store = openStateStore(t, stateDir)
	n = openNode(t, cfg, store, Hooks{}, false)
	waitLeader(t, n)
	if err := n.Barrier(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	assertSameDump(t, withoutApplied(stateDump(t, store)), want)
	members, err := n.Members()
	if err != nil || len(members) != 1 || members[0].ID != cfg.NodeID {
		t.Fatalf("members after recovery = %+v, %v", members, err)
	}
	if _, err := os.Stat(filepath.Join(dir, PeersFile)); !os.IsNotExist(err) {
		t.Fatalf("peers.json still in place after recovery: %v", err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, PeersFile+".applied-*"))
	if len(matches) != 1 {
		t.Fatalf("applied peers file not kept: %v", matches)
	}
	applyWorkload(t, n, 2)
	readState(t, store, func(r *storage.Reader) error {
		_, err := r.App("app_2")
		return err
	})
}

package raft

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/herald-webhooks/herald/storage"
)

// Join adds a node as a voter and records it in the registry. It must run
// on the leader. Joining again with the same id and address is a no-op; the
// same id with a new address replaces the old entry (a node that moved). A
// node that was removed is refused with ErrNodeRemoved.
func (n *Node) Join(id, raftAddr, httpAddr string) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	// The leader has applied every committed entry since its barrier, so a
	// tombstone committed before this join is seen here.
	if n.removed(id) {
		return ErrNodeRemoved
	}
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return fmt.Errorf("read raft configuration: %w", err)
	}
	member := false
	for _, srv := range cf.Configuration().Servers {
		switch {
		case srv.ID == hraft.ServerID(id) && srv.Address == hraft.ServerAddress(raftAddr):
			member = true
		case srv.ID == hraft.ServerID(id) || srv.Address == hraft.ServerAddress(raftAddr):
			// Same id at a new address, or another id at this address:
			// the old entry is stale.
			if err := n.raft.RemoveServer(srv.ID, 0, n.cfg.ApplyTimeout).Error(); err != nil {
				return fmt.Errorf("remove stale member %s: %w", srv.ID, mapErr(err))
			}
			if srv.ID != hraft.ServerID(id) {
				if _, err := n.Apply(&DeleteNode{ID: string(srv.ID)}); err != nil {
					return err
				}
			}
		}
	}
	if !member {
		f := n.raft.AddVoter(hraft.ServerID(id), hraft.ServerAddress(raftAddr), 0, n.cfg.ApplyTimeout)
		if err := f.Error(); err != nil {
			return fmt.Errorf("add voter %s: %w", id, mapErr(err))
		}
		n.log.Info().Str("node_id", id).Str("raft_addr", raftAddr).Msg("node joined")
	}
	_, err := n.Apply(&PutNode{Node: storage.Node{ID: id, RaftAddr: raftAddr, HTTPAddr: httpAddr}})
	return err
}

// Remove takes a node out of the cluster and the registry. It must run on
// the leader; removing an unknown id is not an error. Unless leaving is set
// (a node leaving of its own accord on shutdown), the node is also
// tombstoned: its joins are refused until AllowRejoin, so a node still
// running cannot add itself back.
func (n *Node) Remove(id string, leaving bool, now time.Time) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	// The registry entry and tombstone go first: removing the leader
	// itself ends its leadership, after which it could no longer record
	// anything. Should the removal then fail, a node leaving re-registers
	// itself; a removed one is refused and the operator retries.
	var cmd Command = &RemoveNode{ID: id, At: now.UnixNano()}
	if leaving {
		cmd = &DeleteNode{ID: id}
	}
	if _, err := n.Apply(cmd); err != nil {
		return err
	}
	if err := n.raft.RemoveServer(hraft.ServerID(id), 0, n.cfg.ApplyTimeout).Error(); err != nil {
		return fmt.Errorf("remove %s: %w", id, mapErr(err))
	}
	n.log.Info().Str("node_id", id).Msg("node removed")
	return nil
}

// AllowRejoin lets a removed node join again; storage.ErrNotFound if it
// was not removed. It must run on the leader.
func (n *Node) AllowRejoin(id string) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	res, err := n.Apply(&AllowRejoin{ID: id})
	if err != nil {
		return err
	}
	if r, _ := res.(Result); r.Err != nil {
		return r.Err
	}
	n.log.Info().Str("node_id", id).Msg("removed node allowed to re-join")
	return nil
}

// removed reports whether this node's state holds a tombstone for id.
func (n *Node) removed(id string) bool {
	var removed bool
	_ = n.store.View(func(r *storage.Reader) error { removed = r.Removed(id); return nil })
	return removed
}

// Removed reports whether this node's own state says it was removed from
// the cluster (its state may lag the leader's).
func (n *Node) Removed() bool { return n.removed(n.cfg.NodeID) }

// Register records this node's addresses in the registry (so the others
// can find its HTTP API), if they are not recorded already.
func (n *Node) Register(httpAddr string) error {
	var known storage.Node
	_ = n.store.View(func(r *storage.Reader) error {
		nodes, err := r.Nodes()
		for _, m := range nodes {
			if m.ID == n.cfg.NodeID {
				known = m
			}
		}
		return err
	})
	if known.RaftAddr == n.RaftAddr() && known.HTTPAddr == httpAddr {
		return nil
	}
	_, err := n.Apply(&PutNode{Node: storage.Node{ID: n.cfg.NodeID, RaftAddr: n.RaftAddr(), HTTPAddr: httpAddr}})
	return err
}

// IsVoter reports whether the Raft configuration this node holds lists it
// as a voter at its own address: true for a member that restarted, false
// for a new node or one that was removed or moved to another address.
func (n *Node) IsVoter() bool {
	cf := n.raft.GetConfiguration()
	if cf.Error() != nil {
		return false
	}
	for _, srv := range cf.Configuration().Servers {
		if srv.ID == hraft.ServerID(n.cfg.NodeID) && srv.Address == n.transport.LocalAddr() {
			return srv.Suffrage == hraft.Voter
		}
	}
	return false
}

// Member is one server of the Raft configuration, with its registry entry.
type Member struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raftAddr"`
	HTTPAddr string `json:"httpAddr,omitempty"`
	Suffrage string `json:"suffrage"`
	Leader   bool   `json:"leader"`
}

// Members returns the Raft configuration joined with the node registry.
func (n *Node) Members() ([]Member, error) {
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return nil, mapErr(err)
	}
	http := map[string]string{}
	_ = n.store.View(func(r *storage.Reader) error {
		nodes, err := r.Nodes()
		for _, m := range nodes {
			http[m.ID] = m.HTTPAddr
		}
		return err
	})
	_, leaderID := n.Leader()
	var out []Member
	for _, srv := range cf.Configuration().Servers {
		out = append(out, Member{
			ID: string(srv.ID), RaftAddr: string(srv.Address), HTTPAddr: http[string(srv.ID)],
			Suffrage: srv.Suffrage.String(), Leader: string(srv.ID) == leaderID,
		})
	}
	return out, nil
}

// LeaderHTTPAddr returns the leader's API address from the registry, or ""
// when the leader is unknown or not registered yet.
func (n *Node) LeaderHTTPAddr() string {
	_, id := n.Leader()
	if id == "" {
		return ""
	}
	var addr string
	_ = n.store.View(func(r *storage.Reader) error {
		nodes, err := r.Nodes()
		for _, m := range nodes {
			if m.ID == id {
				addr = m.HTTPAddr
			}
		}
		return err
	})
	return addr
}

// Status is this node's view of Raft, for the cluster API.
type Status struct {
	ID           string `json:"id"`
	State        string `json:"state"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commitIndex"`
	AppliedIndex uint64 `json:"appliedIndex"`
	LastLogIndex uint64 `json:"lastLogIndex"`
	LeaderID     string `json:"leaderId"`
	LastContact  string `json:"lastContact,omitempty"`
}

// Status reports this node's Raft state.
func (n *Node) Status() Status {
	st := n.raft.Stats()
	u := func(k string) uint64 { v, _ := strconv.ParseUint(st[k], 10, 64); return v }
	_, leader := n.Leader()
	return Status{
		ID: n.cfg.NodeID, State: n.raft.State().String(), Term: u("term"),
		CommitIndex: u("commit_index"), AppliedIndex: n.store.AppliedIndex(),
		LastLogIndex: u("last_log_index"), LeaderID: leader, LastContact: st["last_contact"],
	}
}

// TransferLeadership hands leadership to another voter, if there is one,
// so a leader shutting down does not leave the cluster waiting for an
// election timeout.
func (n *Node) TransferLeadership() error {
	if !n.IsLeader() {
		return nil
	}
	cf := n.raft.GetConfiguration()
	if cf.Error() != nil || len(cf.Configuration().Servers) < 2 {
		return nil
	}
	return mapErr(n.raft.LeadershipTransfer().Error())
}

// WaitForLeader polls until some leader is known or the timeout passes.
func (n *Node) WaitForLeader(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, id := n.Leader(); id != "" {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("no leader elected")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hraft.ErrNotLeader):
		return ErrNotLeader
	case errors.Is(err, hraft.ErrRaftShutdown):
		return ErrShutdown
	}
	return err
}

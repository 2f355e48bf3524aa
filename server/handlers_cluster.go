package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/keyring"
	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// Herald additions: cluster membership under /api/v1/cluster (admin only).

type joinIn struct {
	NodeID   string `json:"nodeId"`
	RaftAddr string `json:"raftAddr"`
	HTTPAddr string `json:"httpAddr"`
	// KeyID is the id of the joining node's secrets key: it must be the
	// cluster's, or the node could not sign deliveries as leader.
	KeyID string `json:"keyId"`
	// WantKeyring, from a node that has no key yet (KeyID empty), asks
	// for the cluster's keyring in the answer.
	WantKeyring bool `json:"wantKeyring"`
}

// joinOut answers a join: the members (without each one's status: the
// joining node may not serve its API yet), and the keyring if asked for.
type joinOut struct {
	Leader  string            `json:"leader"`
	Nodes   []raft.Member     `json:"nodes"`
	Keyring *keyring.Material `json:"keyring,omitempty"`
}

// closedObject: a join comes from another Herald node, and a field this
// node does not know means the nodes run versions that should not be
// joined silently.
func (joinIn) closedObject() {}

// joinCluster adds the calling node as a voter (on the leader; followers
// forward it). Joining again with the same id and address changes nothing.
// A node without a secrets key asks for the cluster's keyring, which the
// answer then carries: the caller holds the admin token, which grants
// everything the keyring protects anyway, and the keys travel only once
// the join has succeeded (a removed node gets none). On a network others
// can read, node-to-node TLS keeps them off the wire.
func (s *Server) joinCluster(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	var in joinIn
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	var v violations
	v.check(in.NodeID != "" && len(in.NodeID) <= 128, "field required: the joining node's id", "nodeId")
	v.check(validHostPort(in.RaftAddr), "field required: the joining node's Raft address, host:port", "raftAddr")
	v.check(in.HTTPAddr == "" || validHostPort(in.HTTPAddr), "must be host:port", "httpAddr")
	if err := v.err(); err != nil {
		return err
	}
	v.check(in.KeyID != "" || in.WantKeyring, "field required: the id of the joining node's secrets key (or wantKeyring)", "keyId")
	if err := v.err(); err != nil {
		return err
	}
	if s.cfg.Keys != nil && in.KeyID != "" && in.KeyID != s.cfg.Keys.ID() {
		return errorf(http.StatusConflict, "secrets_key_mismatch",
			"The joining node's secrets key (id "+in.KeyID+") is not the cluster's (id "+s.cfg.Keys.ID()+
				"): start it without a key of its own (no secrets_key, no secrets.key file) to receive the cluster's when it joins, or give it the cluster's key.")
	}
	if err := s.node.Join(in.NodeID, in.RaftAddr, in.HTTPAddr); err != nil {
		return err
	}
	members, err := s.node.Members()
	if err != nil {
		return err
	}
	out := joinOut{Nodes: members}
	_, out.Leader = s.node.Leader()
	if in.WantKeyring && s.cfg.Keys != nil {
		m := s.cfg.Keys.Export()
		out.Keyring = &m
		c.Response.Header.Set("Cache-Control", "no-store")
		s.log.Info().Str("node_id", in.NodeID).Str("key_id", s.cfg.Keys.ID()).Msg("secrets keyring sent to a joining node")
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}

// removeNode takes a node out of the cluster. The node is tombstoned: it
// cannot join again (a running one would otherwise add itself back at
// once) until allowRejoin. ?leave=true is a node leaving on its own
// shutdown (leave_on_shutdown): no tombstone, it may come back by itself.
func (s *Server) removeNode(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	id := pathParam(c, "node_id")
	members, err := s.node.Members()
	if err != nil {
		return err
	}
	found := false
	for _, m := range members {
		found = found || m.ID == id
	}
	if !found {
		return notFound("Node")
	}
	leaving := string(c.QueryArgs().Peek("leave")) == "true"
	if err := s.node.Remove(id, leaving, s.now()); err != nil {
		return err
	}
	c.SetStatusCode(http.StatusNoContent)
	return nil
}

// allowRejoin lets a removed node join the cluster again.
func (s *Server) allowRejoin(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	if err := s.node.AllowRejoin(pathParam(c, "node_id")); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return notFound("Removed node")
		}
		return err
	}
	c.SetStatusCode(http.StatusNoContent)
	return nil
}

// nodeStatus is this node's own Raft view.
func (s *Server) nodeStatus(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, nodeStatusOut{Status: s.node.Status(), Disk: s.diskState()})
	return nil
}

// nodeStatusOut is a node's own report: its Raft view and its disk.
type nodeStatusOut struct {
	raft.Status
	Disk *diskStateOut `json:"disk,omitempty"`
}

type clusterNodeOut struct {
	raft.Member
	Status *raft.Status  `json:"status,omitempty"`
	Disk   *diskStateOut `json:"disk,omitempty"`
	Error  string        `json:"error,omitempty"`
}

type clusterOut struct {
	Leader string           `json:"leader"`
	Nodes  []clusterNodeOut `json:"nodes"`
	// Removed lists the nodes removed by an operator, which may not
	// re-join until allowed.
	Removed []removedNodeOut `json:"removed"`
}

type removedNodeOut struct {
	ID        string    `json:"id"`
	RemovedAt time.Time `json:"removedAt"`
}

// clusterView lists the members with each one's own report of its Raft
// state, asked of it over its API (a node that does not answer shows an
// error instead).
func (s *Server) clusterView(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	members, err := s.node.Members()
	if err != nil {
		return err
	}
	out := clusterOut{Nodes: make([]clusterNodeOut, len(members)), Removed: []removedNodeOut{}}
	_, out.Leader = s.node.Leader()
	if err := s.store.View(func(r *storage.Reader) error {
		removed, err := r.RemovedNodes()
		for _, n := range removed {
			out.Removed = append(out.Removed, removedNodeOut{ID: n.ID, RemovedAt: time.Unix(0, n.At).UTC()})
		}
		return err
	}); err != nil {
		return err
	}
	auth := c.Request.Header.Peek("Authorization")
	var wg sync.WaitGroup
	for i, m := range members {
		out.Nodes[i].Member = m
		if m.ID == s.node.ID() {
			st := s.node.Status()
			out.Nodes[i].Status = &st
			out.Nodes[i].Disk = s.diskState()
			continue
		}
		if m.HTTPAddr == "" {
			out.Nodes[i].Error = "no API address registered yet"
			continue
		}
		wg.Add(1)
		go func(n *clusterNodeOut) {
			defer wg.Done()
			st, err := s.fetchStatus(n.HTTPAddr, auth)
			if err != nil {
				n.Error = err.Error()
				return
			}
			n.Status, n.Disk = &st.Status, st.Disk
		}(&out.Nodes[i])
	}
	wg.Wait()
	writeJSON(c, http.StatusOK, out)
	return nil
}

func (s *Server) fetchStatus(addr string, auth []byte) (*nodeStatusOut, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(s.peerURL(addr, "/api/v1/cluster/node"))
	req.Header.SetBytesV("Authorization", auth)
	if err := s.forwarder.DoTimeout(req, resp, 2*time.Second); err != nil {
		return nil, err
	}
	if resp.StatusCode() != http.StatusOK {
		return nil, errorf(resp.StatusCode(), "node_status", string(resp.Body()))
	}
	var st nodeStatusOut
	err := json.Unmarshal(resp.Body(), &st)
	return &st, err
}

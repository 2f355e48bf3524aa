package server

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/raft"
)

// Herald additions: cluster membership under /api/v1/cluster (admin only).

type joinIn struct {
	NodeID   string `json:"nodeId"`
	RaftAddr string `json:"raftAddr"`
	HTTPAddr string `json:"httpAddr"`
	// KeyID is the id of the joining node's secrets key: it must be the
	// cluster's, or the node could not sign deliveries as leader.
	KeyID string `json:"keyId"`
}

// joinCluster adds the calling node as a voter (on the leader; followers
// forward it). Joining again with the same id and address changes nothing.
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
	v.check(in.KeyID != "", "field required: the id of the joining node's secrets key", "keyId")
	if err := v.err(); err != nil {
		return err
	}
	if s.cfg.Keys != nil && in.KeyID != s.cfg.Keys.ID() {
		return errorf(http.StatusConflict, "secrets_key_mismatch",
			"The joining node's secrets key (id "+in.KeyID+") is not the cluster's (id "+s.cfg.Keys.ID()+
				"): copy secrets.key from a member (or set the same secrets_key) and start it again.")
	}
	if err := s.node.Join(in.NodeID, in.RaftAddr, in.HTTPAddr); err != nil {
		return err
	}
	return s.clusterView(c, p)
}

// removeNode takes a node out of the cluster.
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
	if err := s.node.Remove(id); err != nil {
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
	out := clusterOut{Nodes: make([]clusterNodeOut, len(members))}
	_, out.Leader = s.node.Leader()
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
	req.SetRequestURI("http://" + addr + "/api/v1/cluster/node")
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

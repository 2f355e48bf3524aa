package appliance

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/herald-webhooks/herald/storage"
)

// clusterClient calls other members' cluster API with the admin token.
type clusterClient struct {
	token  string
	scheme string // https when members talk TLS
	http   *http.Client
}

// newClusterClient builds the client of every call this node makes to
// another member's API; peerTLS (nil without TLS) verifies the member and
// presents this node's certificate.
func newClusterClient(token string, peerTLS *tls.Config) *clusterClient {
	c := &clusterClient{token: token, scheme: "http", http: &http.Client{Timeout: 10 * time.Second}}
	if peerTLS != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = peerTLS
		c.scheme, c.http.Transport = "https", tr
	}
	return c
}

func (c *clusterClient) do(method, addr, path string, body any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.scheme+"://"+addr+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s on %s: %d %s", method, path, addr, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

type joinRequest struct {
	NodeID   string `json:"nodeId"`
	RaftAddr string `json:"raftAddr"`
	HTTPAddr string `json:"httpAddr"`
	KeyID    string `json:"keyId"`
}

// join asks the members in cfg.Join to add this node, trying each in turn
// until one accepts or the join timeout passes. Any member will do: a
// follower forwards the request to the leader. Joining again is a no-op,
// so a restarted node may keep its --join flag.
func (a *Appliance) join(client *clusterClient) error {
	req := joinRequest{NodeID: a.node.ID(), RaftAddr: a.node.RaftAddr(), HTTPAddr: a.cfg.HTTPAdvertiseAddr(), KeyID: a.keys.ID()}
	if a.cfg.HTTPAdvertise == "" {
		req.HTTPAddr = a.HTTPAddr()
	}
	deadline := time.Now().Add(a.cfg.Raft.JoinTimeout.Duration)
	var last error
	for {
		for _, addr := range a.cfg.Join {
			err := client.do(http.MethodPost, addr, "/api/v1/cluster/join", req)
			if err == nil {
				a.log.Info().Str("component", "raft").Str("via", addr).Msg("joined cluster")
				return nil
			}
			if strings.Contains(err.Error(), "secrets_key_mismatch") {
				return err
			}
			last = err
			a.log.Warn().Err(err).Str("component", "raft").Str("via", addr).Msg("join attempt failed")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("join cluster through %v: %w", a.cfg.Join, last)
		}
		select {
		case <-a.stopTasks:
			return errors.New("join interrupted by shutdown")
		case <-time.After(a.cfg.Raft.JoinInterval.Duration):
		}
	}
}

// keepRegistered makes sure the registry holds this node's current API
// address, so the others can forward writes and report its status: the
// leader records itself; a follower whose entry is missing or stale joins
// again through the leader (a no-op for Raft, an update for the registry).
func (a *Appliance) keepRegistered(client *clusterClient) {
	defer a.tasksDone.Done()
	// Checked at once, on every change of leadership (a new leader records
	// itself before followers need its address to forward writes) and
	// every second.
	wake := make(chan struct{}, 1)
	a.node.OnLeadership(func(bool) {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-a.stopTasks:
				return
			case <-t.C:
			case <-wake:
			}
		}
		if a.registered() {
			continue
		}
		var err error
		switch {
		case a.node.IsLeader():
			err = a.node.Register(a.advertisedHTTP())
		case client != nil:
			leader := a.node.LeaderHTTPAddr()
			if leader == "" {
				continue
			}
			err = client.do(http.MethodPost, leader, "/api/v1/cluster/join",
				joinRequest{NodeID: a.node.ID(), RaftAddr: a.node.RaftAddr(), HTTPAddr: a.advertisedHTTP(), KeyID: a.keys.ID()})
		default:
			continue
		}
		if err != nil {
			a.log.Warn().Err(err).Str("component", "raft").Msg("register in the node registry failed")
		}
	}
}

func (a *Appliance) advertisedHTTP() string {
	if a.cfg.HTTPAdvertise != "" {
		return a.cfg.HTTPAdvertise
	}
	return a.HTTPAddr()
}

// registered reports whether the registry's entry for this node is current.
func (a *Appliance) registered() bool {
	var ok bool
	_ = a.store.View(func(r *storage.Reader) error {
		nodes, err := r.Nodes()
		for _, n := range nodes {
			ok = ok || (n.ID == a.node.ID() && n.RaftAddr == a.node.RaftAddr() && n.HTTPAddr == a.advertisedHTTP())
		}
		return err
	})
	return ok
}

// leave removes this node from the cluster on shutdown (leave_on_shutdown):
// a leader hands leadership over first, then asks the new leader.
func (a *Appliance) leave(client *clusterClient) {
	if client == nil {
		a.log.Warn().Str("component", "raft").Msg("leave on shutdown needs admin_token: staying a member")
		return
	}
	if a.node.IsLeader() {
		if err := a.node.TransferLeadership(); err != nil {
			a.log.Warn().Err(err).Str("component", "raft").Msg("leadership transfer before leaving failed")
			return
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if leader := a.node.LeaderHTTPAddr(); leader != "" && !a.node.IsLeader() {
			err := client.do(http.MethodDelete, leader, "/api/v1/cluster/node/"+a.node.ID(), nil)
			if err == nil {
				a.log.Info().Str("component", "raft").Msg("left the cluster")
				return
			}
			a.log.Warn().Err(err).Str("component", "raft").Msg("leave request failed")
		}
		time.Sleep(200 * time.Millisecond)
	}
	a.log.Warn().Str("component", "raft").Msg("could not leave the cluster before shutdown")
}

package appliance

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/herald-webhooks/herald/keyring"
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

// peerError is another member's error answer, decoded so callers can act
// on its code ("node_removed", "secrets_key_mismatch") without matching
// text.
type peerError struct {
	Method, Path, Addr string
	Status             int
	Code               string
	Detail             string
}

func (e *peerError) Error() string {
	return fmt.Sprintf("%s %s on %s: %d %s: %s", e.Method, e.Path, e.Addr, e.Status, e.Code, e.Detail)
}

// peerCode returns the error code of a peer's answer in err, or "".
func peerCode(err error) string {
	var pe *peerError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// do sends body (JSON, if not nil) and decodes a 2xx answer into out (if
// not nil); any other answer is a *peerError.
func (c *clusterClient) do(method, addr, path string, body, out any) error {
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
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		pe := &peerError{Method: method, Path: path, Addr: addr, Status: resp.StatusCode}
		var answer struct {
			Code   string `json:"code"`
			Detail any    `json:"detail"`
		}
		if json.Unmarshal(msg, &answer) == nil && answer.Code != "" {
			pe.Code = answer.Code
			if d, ok := answer.Detail.(string); ok {
				pe.Detail = d
			} else {
				d, _ := json.Marshal(answer.Detail)
				pe.Detail = string(d)
			}
		} else {
			pe.Detail = string(bytes.TrimSpace(msg))
		}
		return pe
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("%s %s on %s: decode the answer: %w", method, path, addr, err)
	}
	return nil
}

// Error codes of the join route the joining side acts on.
const (
	codeNodeRemoved = "node_removed"
	codeKeyMismatch = "secrets_key_mismatch"
)

type joinRequest struct {
	NodeID      string `json:"nodeId"`
	RaftAddr    string `json:"raftAddr"`
	HTTPAddr    string `json:"httpAddr"`
	KeyID       string `json:"keyId,omitempty"`
	WantKeyring bool   `json:"wantKeyring,omitempty"`
}

// joinAnswer is what the joining node reads of the answer.
type joinAnswer struct {
	Keyring *keyring.Material `json:"keyring"`
}

// join asks the members in cfg.Join to add this node, trying each in turn
// until one accepts or the join timeout passes. Any member will do: a
// follower forwards the request to the leader. Joining again is a no-op,
// so a restarted node may keep its --join flag. With wantKeyring (the node
// has no secrets key yet) it returns the cluster's keyring.
func (a *Appliance) join(client *clusterClient, wantKeyring bool) (*keyring.Material, error) {
	req := joinRequest{NodeID: a.node.ID(), RaftAddr: a.node.RaftAddr(), HTTPAddr: a.advertisedHTTP(), WantKeyring: wantKeyring}
	if a.keys != nil {
		req.KeyID = a.keys.ID()
	}
	deadline := time.Now().Add(a.cfg.Raft.JoinTimeout.Duration)
	var last error
	for {
		for _, addr := range a.cfg.Join {
			var answer joinAnswer
			err := client.do(http.MethodPost, addr, "/api/v1/cluster/join", req, &answer)
			if err == nil && wantKeyring && answer.Keyring == nil {
				// Only a cluster without keys answers so; never invent one.
				return nil, fmt.Errorf("join through %s: the cluster sent no secrets keyring", addr)
			}
			if err == nil {
				a.log.Info().Str("component", "raft").Str("via", addr).Msg("joined cluster")
				return answer.Keyring, nil
			}
			switch peerCode(err) {
			case codeNodeRemoved, codeKeyMismatch:
				// Final answers: trying again, or elsewhere, changes nothing.
				return nil, err
			}
			last = err
			a.log.Warn().Err(err).Str("component", "raft").Str("via", addr).Msg("join attempt failed")
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("join cluster through %v: %w", a.cfg.Join, last)
		}
		select {
		case <-a.stopTasks:
			return nil, errors.New("join interrupted by shutdown")
		case <-time.After(a.cfg.Raft.JoinInterval.Duration):
		}
	}
}

// keepRegistered makes sure the registry holds this node's current API
// address, so the others can forward writes and report its status: the
// leader records itself; a follower whose entry is missing or stale joins
// again through the leader (a no-op for Raft, an update for the registry).
// A node an operator removed is refused that join: it says so once and
// stops trying, rather than add itself back.
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
			addrs := a.registrationAddrs()
			if len(addrs) == 0 {
				continue
			}
			req := joinRequest{NodeID: a.node.ID(), RaftAddr: a.node.RaftAddr(), HTTPAddr: a.advertisedHTTP(), KeyID: a.keys.ID()}
			for _, addr := range addrs {
				if err = client.do(http.MethodPost, addr, "/api/v1/cluster/join", req, nil); err == nil {
					break
				}
			}
		default:
			continue
		}
		if peerCode(err) == codeNodeRemoved {
			a.log.Error().Str("component", "raft").Str("node_id", a.node.ID()).
				Msg("this node was removed from the cluster and will not re-join: stop it (an operator can allow it back with herald cluster allow-rejoin)")
			return
		}
		if err != nil {
			a.log.Warn().Err(err).Str("component", "raft").Msg("register in the node registry failed")
		}
	}
}

// registrationAddrs are the API addresses a follower re-registers through:
// the leader's. A node whose own state says it was removed no longer hears
// from a leader, so it asks the members it knows instead (any of them
// forwards to the leader), to learn whether the removal stands.
func (a *Appliance) registrationAddrs() []string {
	if leader := a.node.LeaderHTTPAddr(); leader != "" {
		return []string{leader}
	}
	if !a.node.Removed() {
		return nil
	}
	addrs := append([]string(nil), a.cfg.Join...)
	_ = a.store.View(func(r *storage.Reader) error {
		nodes, err := r.Nodes()
		for _, n := range nodes {
			if n.ID != a.node.ID() && n.HTTPAddr != "" {
				addrs = append(addrs, n.HTTPAddr)
			}
		}
		return err
	})
	return addrs
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
			// leave=true: a node leaving of its own accord is not
			// tombstoned, so it may join again when it is started again.
			err := client.do(http.MethodDelete, leader, "/api/v1/cluster/node/"+a.node.ID()+"?leave=true", nil, nil)
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

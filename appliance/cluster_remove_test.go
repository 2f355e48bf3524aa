package appliance_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-webhooks/herald/appliance"
	"github.com/herald-webhooks/herald/internal/testutil"
	"github.com/herald-webhooks/herald/keyring"
)

// removedMsg is the line a removed node logs when it learns of its removal.
const removedMsg = "this node was removed from the cluster and will not re-join: stop it (an operator can allow it back with herald cluster allow-rejoin)"

// TestClusterRemovedNodeStaysRemoved: a node removed while it runs does not
// add itself back; it logs its removal once and stops trying; joins with
// its id are refused (node_removed), also when it restarts with --join,
// until an operator allows it back, after which it re-joins.
func TestClusterRemovedNodeStaysRemoved(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.waitReady(3)
	gone := c.others(leader)[0]

	r, retried := writeKey(t, leader.node(), http.MethodDelete, "/api/v1/cluster/node/"+gone.id, nil, "")
	if r.status != http.StatusNoContent && (!retried || r.status != http.StatusNotFound) {
		t.Fatalf("remove %s: %d %s", gone.id, r.status, r.body)
	}
	// The removed node learns it was removed and says so; its registration
	// loop has then stopped, so nothing re-adds it after this point.
	learned := func() error {
		if gone.log.seen(removedMsg) == 0 {
			return fmt.Errorf("%s has not logged its removal", gone.id)
		}
		return nil
	}
	// A known gap: when the removal commits before the node applied its
	// tombstone, the leader stops replicating to it and it never learns
	// (it does not re-add itself either). Tell that case apart, loudly,
	// from a node that had its tombstone and failed to act on it.
	if err := testutil.Poll(15*time.Second, 20*time.Millisecond, learned); err != nil {
		if !gone.node().Node().Removed() {
			t.Skipf("%s was removed before it applied its tombstone and cannot learn of it (known gap, see docs/CLUSTER.md): %v", gone.id, err)
		}
		t.Fatal(err)
	}
	voterIDs := func(m *member) []string {
		var ids []string
		for _, s := range raftConfig(t, c, m).Servers {
			ids = append(ids, string(s.ID))
		}
		return ids
	}
	// The harness counts gone as reachable while it runs; it is no longer
	// led, so its link is cut for the check.
	gone.link.cut()
	leader = c.waitReady(2)
	if ids := voterIDs(leader); len(ids) != 2 || slices.Contains(ids, gone.id) {
		t.Fatalf("voters after the removal: %v, want 2 without %s", ids, gone.id)
	}
	if n := gone.log.seen(removedMsg); n != 1 {
		t.Errorf("%s logged its removal %d times, want once", gone.id, n)
	}
	var v struct {
		Removed []struct {
			ID        string    `json:"id"`
			RemovedAt time.Time `json:"removedAt"`
		} `json:"removed"`
	}
	leader.node().do(http.MethodGet, "/api/v1/cluster", nil).json(t, &v)
	if len(v.Removed) != 1 || v.Removed[0].ID != gone.id || v.Removed[0].RemovedAt.IsZero() {
		t.Errorf("cluster view lists removed nodes %+v, want %s", v.Removed, gone.id)
	}

	// A join with its id is refused, through the leader or a follower.
	key, _ := keyring.ParseKey(clusterSecretsKey)
	keys, _ := keyring.New(key)
	for _, via := range c.others(gone) {
		r := write(t, via.node(), http.MethodPost, "/api/v1/cluster/join", map[string]string{
			"nodeId": gone.id, "raftAddr": gone.raftAddr, "httpAddr": gone.node().HTTPAddr(), "keyId": keys.ID(),
		})
		if r.status != http.StatusConflict || !strings.Contains(string(r.body), `"node_removed"`) {
			t.Errorf("join of the removed node through %s: %d %s, want 409 node_removed", via.id, r.status, r.body)
		}
	}

	// Stopped and started again with --join, it is still refused.
	gone.stop()
	gone.link.heal()
	cfg := c.config(gone, []string{leader.node().HTTPAddr()})
	if a, err := appliance.Open(cfg, appliance.Options{}, zerolog.New(gone.log)); err == nil {
		_ = a.Close(t.Context())
		t.Fatalf("%s restarted with --join after its removal", gone.id)
	} else if !strings.Contains(err.Error(), "node_removed") {
		t.Errorf("restart of the removed node: %v, want node_removed", err)
	}

	// Only an operator lets it back.
	if r := write(t, leader.node(), http.MethodPost, "/api/v1/cluster/node/node-unknown/allow-rejoin", nil); r.status != http.StatusNotFound {
		t.Errorf("allow-rejoin of a node never removed: %d %s, want 404", r.status, r.body)
	}
	if r := write(t, c.others(leader, gone)[0].node(), http.MethodPost, "/api/v1/cluster/node/"+gone.id+"/allow-rejoin", nil); r.status != http.StatusNoContent {
		t.Fatalf("allow-rejoin through a follower: %d %s", r.status, r.body)
	}
	gone.start(leader.node().HTTPAddr())
	c.waitReady(3)
	leader.node().do(http.MethodGet, "/api/v1/cluster", nil).json(t, &v)
	if len(v.Removed) != 0 {
		t.Errorf("removed nodes after the re-join: %+v", v.Removed)
	}
}

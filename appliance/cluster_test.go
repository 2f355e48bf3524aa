package appliance_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/herald-webhooks/herald/config"
	"github.com/herald-webhooks/herald/keyring"
	"github.com/herald-webhooks/herald/storage"
)

// Three-node cluster tests: membership, write forwarding, leader-only
// dispatch, failover under load, a graceful leader shutdown, a partitioned
// leader, snapshot install and node removal. The harness: the nodes in
// clusternode_test.go, the clients in clusterclient_test.go, Raft faults in
// clusternet_test.go.

// TestClusterJoin: three nodes form a cluster that every member reports
// the same way; a repeated join changes nothing; a stopped member restarted
// on its data (with and without --join, even naming a member that is down)
// rejoins and catches up.
func TestClusterJoin(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.waitReady(3)
	for _, m := range c.members {
		checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return c.checkView(m) })
	}

	// Joining again with the same id and addresses, through a follower
	// (forwarded) or the leader, is a no-op.
	fs := c.others(leader)
	before := raftConfig(t, c, leader)
	key, err := keyring.ParseKey(clusterSecretsKey)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, via := range []*member{fs[1], leader} {
		r := write(t, via.node(), http.MethodPost, "/api/v1/cluster/join", map[string]string{
			"nodeId": fs[0].id, "raftAddr": fs[0].raftAddr, "httpAddr": fs[0].node().HTTPAddr(), "keyId": keys.ID(),
		})
		if r.status != http.StatusOK {
			t.Fatalf("repeated join through %s: %d %s", via.id, r.status, r.body)
		}
		var v clusterView
		r.json(t, &v)
		if len(v.Nodes) != 3 {
			t.Errorf("repeated join through %s answers %d nodes, want 3", via.id, len(v.Nodes))
		}
	}
	// The same node is asked after: an election meanwhile does not change
	// the configuration either.
	if after := raftConfig(t, c, leader); !reflect.DeepEqual(before, after) {
		t.Errorf("a repeated join changed the Raft configuration:\nbefore %+v\nafter  %+v", before, after)
	}

	// Members restarted on their data: without --join; with --join through
	// a live member; with --join naming only a member that is down (a seed
	// that died must not keep the others from restarting). Each misses a
	// write made while it was down, and comes back on a new API port.
	restarts := []struct {
		m    *member
		join []string
	}{
		{fs[0], nil},
		{fs[1], []string{leader.node().HTTPAddr()}},
		{fs[0], []string{reserveRaftAddr(t)}},
	}
	for _, rs := range restarts {
		m := rs.m
		m.stop()
		appID := createApp(t, c.waitReady(3).node(), "written while "+m.id+" was down")
		m.start(rs.join...)
		c.waitCaughtUp(m, c.waitReady(3))
		if r := m.node().do(http.MethodGet, "/api/v1/app/"+appID, nil); r.status != http.StatusOK {
			t.Errorf("%s after restart: GET the app written while it was down: %d %s", m.id, r.status, r.body)
		}
		for _, o := range c.members {
			checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return c.checkView(o) })
		}
	}
}

// TestClusterForwarding: writes sent to a follower get the leader's answer,
// idempotency keys replay across nodes, ?redirect=true redirects to the
// leader, and followers serve reads once they have applied the writes.
func TestClusterForwarding(t *testing.T) {
	rc := newReceiver(t)
	c := newCluster(t, 3)
	// roles names the leader and the followers as they are now: under CPU
	// load an election may move the leader while the test runs.
	roles := func() (l, a, b *testNode) {
		leader := c.waitReady(3)
		fs := c.others(leader)
		return leader.node(), fs[0].node(), fs[1].node()
	}

	// Refusals come from the leader, relayed unchanged.
	refusals := []struct {
		path string
		body any
		want int
	}{
		{"/api/v1/app", map[string]any{}, http.StatusUnprocessableEntity},
		{"/api/v1/app/app_none/endpoint", map[string]any{"url": rc.URL("/hook")}, http.StatusNotFound},
		{"/api/v1/app/app_none/msg", map[string]any{"eventType": "x.y", "payload": map[string]any{}}, http.StatusNotFound},
	}
	for _, tc := range refusals {
		l, a, _ := roles()
		want, got := write(t, l, http.MethodPost, tc.path, tc.body), write(t, a, http.MethodPost, tc.path, tc.body)
		if want.status != tc.want {
			t.Fatalf("POST %s on the leader: %d %s, want %d", tc.path, want.status, want.body, tc.want)
		}
		if got.status != want.status || string(got.body) != string(want.body) ||
			got.header.Get("Content-Type") != want.header.Get("Content-Type") {
			t.Errorf("POST %s on a follower: %d %q (%s), the leader answers %d %q (%s)", tc.path,
				got.status, got.body, got.header.Get("Content-Type"), want.status, want.body, want.header.Get("Content-Type"))
		}
	}

	// A create through a follower answers what the leader stored, with the
	// status and fields of a create made on the leader.
	l, a, b := roles()
	r := write(t, a, http.MethodPost, "/api/v1/app", map[string]any{"name": "forwarded", "uid": "fwd-app"})
	direct := write(t, l, http.MethodPost, "/api/v1/app", map[string]any{"name": "direct", "uid": "direct-app"})
	if r.status != http.StatusCreated || direct.status != r.status {
		t.Fatalf("create app: through a follower %d %s, on the leader %d %s", r.status, r.body, direct.status, direct.body)
	}
	app := jsonObject(t, r.body)
	if !reflect.DeepEqual(keys(app), keys(jsonObject(t, direct.body))) {
		t.Errorf("create app: a follower answers fields %v, the leader %v", keys(app), keys(jsonObject(t, direct.body)))
	}
	appID, _ := app["id"].(string)
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		stored := l.do(http.MethodGet, "/api/v1/app/"+appID, nil)
		if stored.status != http.StatusOK {
			return fmt.Errorf("GET the app on the leader: %d %s", stored.status, stored.body)
		}
		if got := jsonObject(t, stored.body); !reflect.DeepEqual(got, app) {
			t.Errorf("the leader stored %v, the follower answered %v", got, app)
		}
		return nil
	})
	// The same uid again: the leader's conflict, through a follower too.
	dupe := map[string]any{"name": "again", "uid": "fwd-app"}
	want := write(t, l, http.MethodPost, "/api/v1/app", dupe)
	if want.status != http.StatusConflict {
		t.Fatalf("duplicate uid on the leader: %d %s", want.status, want.body)
	}
	if got := write(t, b, http.MethodPost, "/api/v1/app", dupe); got.status != want.status || string(got.body) != string(want.body) {
		t.Errorf("duplicate uid through a follower: %d %s, the leader answers %d %s", got.status, got.body, want.status, want.body)
	}

	r = write(t, b, http.MethodPost, "/api/v1/app/"+appID+"/endpoint", map[string]any{"url": rc.URL("/hook")})
	if r.status != http.StatusCreated {
		t.Fatalf("create endpoint through a follower: %d %s", r.status, r.body)
	}
	epID, _ := jsonObject(t, r.body)["id"].(string)

	// A message with an idempotency key through one follower, then the
	// same key through the other follower and the leader: one message,
	// the identical body replayed.
	l, a, b = roles()
	msgPath := "/api/v1/app/" + appID + "/msg"
	msg := map[string]any{"eventType": "user.signup", "payload": map[string]any{"n": 1}}
	first, retried := writeKey(t, a, http.MethodPost, msgPath, msg, "fwd-key-1")
	if first.status != http.StatusAccepted {
		t.Fatalf("message through a follower: %d %s", first.status, first.body)
	}
	if replay := first.header.Get("Idempotent-Replayed"); replay != "" && !retried {
		t.Errorf("a first use of a key answers Idempotent-Replayed %q", replay)
	}
	for _, n := range []*testNode{b, l} {
		again, _ := writeKey(t, n, http.MethodPost, msgPath, msg, "fwd-key-1")
		if again.status != first.status || string(again.body) != string(first.body) {
			t.Errorf("repeated key: %d %s, first answer %d %s", again.status, again.body, first.status, first.body)
		}
		if again.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("repeated key: Idempotent-Replayed %q, want true", again.header.Get("Idempotent-Replayed"))
		}
	}
	msgID, _ := jsonObject(t, first.body)["id"].(string)
	var list struct {
		Data []map[string]any `json:"data"`
	}
	l.do(http.MethodGet, msgPath, nil).json(t, &list)
	if len(list.Data) != 1 {
		t.Errorf("the app holds %d messages after one key sent three times, want 1", len(list.Data))
	}

	// ?redirect=true: a 307 to the same request on the leader, and no write.
	checkFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		l, a, _ := roles()
		before := l.counts().Apps
		r := a.do(http.MethodPost, "/api/v1/app?redirect=true", map[string]any{"name": "redirected"})
		wantLoc := "http://" + l.HTTPAddr() + "/api/v1/app?redirect=true"
		if r.status != http.StatusTemporaryRedirect || r.header.Get("Location") != wantLoc {
			return fmt.Errorf("redirect: %d Location %q, want 307 %q", r.status, r.header.Get("Location"), wantLoc)
		}
		if n := l.counts().Apps; n != before {
			t.Errorf("a redirected write was applied: %d apps, before %d", n, before)
		}
		followed, err := post(l.hc, r.header.Get("Location"), "", []byte(`{"name":"redirected"}`))
		if err != nil || followed.status != http.StatusCreated {
			return fmt.Errorf("following the redirect: %v %d %s", err, followed.status, followed.body)
		}
		return nil
	})

	// Reads on followers, once applied there, equal the leader's.
	l, a, b = roles()
	for _, path := range []string{
		"/api/v1/app/" + appID,
		"/api/v1/app/" + appID + "/endpoint/" + epID,
		"/api/v1/app/" + appID + "/msg/" + msgID,
	} {
		want := l.do(http.MethodGet, path, nil)
		if want.status != http.StatusOK {
			t.Fatalf("GET %s on the leader: %d %s", path, want.status, want.body)
		}
		for _, n := range []*testNode{a, b} {
			checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
				got := n.do(http.MethodGet, path, nil)
				if got.status != http.StatusOK || !reflect.DeepEqual(jsonObject(t, got.body), jsonObject(t, want.body)) {
					return fmt.Errorf("GET %s on a follower: %d %s, the leader has %s", path, got.status, got.body, want.body)
				}
				return nil
			})
		}
	}
}

// TestClusterLeaderOnlyDispatch: messages sent through every node are all
// delivered, signed, by the leader alone; a follower cut off from the
// others changes nothing.
func TestClusterLeaderOnlyDispatch(t *testing.T) {
	rc := newReceiver(t)
	c := newCluster(t, 3)
	leader := c.waitReady(3)
	termBefore := stat(leader, "term")
	appID := createApp(t, leader.node(), "dispatch")
	_, secret := createEndpoint(t, leader.node(), appID, rc.URL("/hook"))

	var ids []string
	for i := range 30 {
		ids = append(ids, sendMessage(t, c.members[i%3].node(), appID, i))
	}
	if d := waitDelivered(t, rc, secret, ids); d > 0 {
		t.Logf("%d duplicate deliveries", d)
	}
	for _, m := range c.members {
		for _, r := range m.attempts.all() {
			if !r.Leader {
				t.Errorf("%s started an attempt for %s while not leader", m.id, r.MsgID)
			}
		}
	}
	if stat(leader, "term") == termBefore {
		// No election meanwhile: the leader made every attempt.
		for _, m := range c.members {
			got := attemptedIDs(m)
			if m == leader {
				for _, id := range ids {
					if !got[id] {
						t.Errorf("the leader made no attempt for %s", id)
					}
				}
			} else if len(got) > 0 {
				t.Errorf("follower %s made attempts for %d messages", m.id, len(got))
			}
		}
	} else {
		t.Logf("an election happened during the test: the per-node counts are not checked")
	}
	// Every node learns the outcomes.
	for _, m := range c.members {
		checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if n := m.node().counts().Attempts; n < len(ids) {
				return fmt.Errorf("%s records %d attempts, want at least %d", m.id, n, len(ids))
			}
			return nil
		})
	}

	// A follower cut off: deliveries go on, and it starts none (once it
	// holds no lease: it may have led since the test began).
	cut := c.others(c.waitReady(3))[0]
	cut.link.cut()
	checkFor(t, 3*time.Second, time.Millisecond, func() error {
		if cut.node().Node().HasLease() {
			return errors.New("the cut-off node holds a lease")
		}
		return nil
	})
	before := len(cut.attempts.all())
	ids = ids[:0]
	for i := range 10 {
		ids = append(ids, sendMessage(t, c.others(cut)[i%2].node(), appID, 100+i))
	}
	waitDelivered(t, rc, secret, ids)
	if n := len(cut.attempts.all()); n != before {
		t.Errorf("the cut-off follower started %d attempts", n-before)
	}
	cut.link.heal()
	c.waitReady(3)
}

// TestClusterLeaderFailure: the leader goes away under load; another is
// elected, every acknowledged message is delivered, and the old node
// rejoins when it comes back.
func TestClusterLeaderFailure(t *testing.T) {
	for _, mode := range []string{"close", "crash"} {
		t.Run(mode, func(t *testing.T) {
			rc := newReceiver(t)
			c := newCluster(t, 3)
			leader := c.waitReady(3)
			appID := createApp(t, leader.node(), "failover")
			_, secret := createEndpoint(t, leader.node(), appID, rc.URL("/hook"))

			ld := startLoad(t, appID, func() []string {
				var urls []string
				for _, m := range c.members {
					if n := m.running(); n != nil {
						urls = append(urls, n.url)
					}
				}
				return urls
			})
			ld.waitAcked(t, 40)
			old, gone := leader, time.Now()
			if mode == "crash" {
				old.crash()
			} else {
				t.Logf("the leader took %s to close", old.stop())
			}
			// Fails the test unless one of the other two takes over.
			leader = c.waitReady(3)
			t.Logf("%s leads %s after %s began to go", leader.id, time.Since(gone), old.id)
			ld.waitAcked(t, 40)
			ids, failed := ld.finish()
			t.Logf("%d messages acknowledged; refused or failed: %v", len(ids), failed)
			t.Logf("%d duplicate deliveries", waitDelivered(t, rc, secret, ids))

			var join []string
			for _, m := range c.others(old) {
				join = append(join, m.node().HTTPAddr())
			}
			old.start(join...)
			leader = c.waitReady(3)
			c.waitCaughtUp(old, leader)
			if missing := missingMessages(old.node(), appID, ids); len(missing) > 0 {
				t.Errorf("the restarted node lacks %d acknowledged messages, e.g. %s", len(missing), missing[0])
			}
		})
	}
}

// TestClusterLeaderDrainKeepsWrites: a leader shutting down drains its
// deliveries in flight, and the cluster takes writes all the while.
func TestClusterLeaderDrainKeepsWrites(t *testing.T) {
	// The receiver holds the first delivery until the test lets it go, so
	// the leader's drain lasts as long as the test needs.
	release := make(chan struct{})
	rc := newScriptedReceiver(t, func(n int) reply {
		if n == 1 {
			<-release
		}
		return reply{Status: http.StatusOK, Body: "ok"}
	})
	var once sync.Once
	letGo := func() { once.Do(func() { close(release) }) }
	t.Cleanup(letGo)
	c := newCluster(t, 3, func(cfg *config.Config) {
		cfg.Delivery.RequestTimeout = config.Duration{Duration: time.Minute}
		cfg.Delivery.DrainTimeout = config.Duration{Duration: time.Minute}
	})
	leader := c.waitReady(3)
	appID := createApp(t, leader.node(), "drain")
	_, secret := createEndpoint(t, leader.node(), appID, rc.URL("/hook"))
	held := sendMessage(t, leader.node(), appID, 0)
	rc.waitFor(t, 1)

	closed := make(chan struct{})
	go func() {
		defer close(closed)
		leader.stop()
	}()
	t.Cleanup(func() { letGo(); <-closed }) // before the cluster's cleanup
	// Until the held delivery is answered the old leader is still closing;
	// writes through the others must be acknowledged meanwhile.
	var during []string
	hc := &http.Client{Timeout: 20 * time.Second}
	defer hc.CloseIdleConnections()
	body := []byte(`{"eventType":"drain.tick","payload":{}}`)
	checkFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		for _, m := range c.others(leader) {
			r, err := post(hc, m.node().url, "/api/v1/app/"+appID+"/msg", body)
			if err != nil || r.status != http.StatusAccepted {
				return fmt.Errorf("write through %s while the leader drains: %v %d %s", m.id, err, r.status, r.body)
			}
			during = append(during, jsonObject(t, r.body)["id"].(string))
		}
		return nil
	})
	select {
	case <-closed:
		t.Fatal("the leader finished closing with a delivery still in flight")
	default:
	}
	letGo()
	<-closed
	c.waitReady(3)
	waitDelivered(t, rc, secret, append(during, held))
}

// TestClusterPartitionedLeader: the leader's Raft traffic is cut while
// messages keep coming in through the others. It loses its lease within a
// bound and starts no attempt after that; the others elect a leader and
// deliver everything; healed, the old leader follows and catches up.
func TestClusterPartitionedLeader(t *testing.T) {
	// A burst of messages all due at once, cut off as the leader starts on
	// them, leaves it a backlog of attempts to start all through the cut: a
	// dispatcher ignoring its lease would go on starting them until raft
	// steps it down.
	rc := newScriptedReceiver(t, func(int) reply { return reply{Status: http.StatusOK, Body: "ok", Delay: 20 * time.Millisecond} })
	c := newCluster(t, 3, func(cfg *config.Config) { cfg.Delivery.MaxInFlightPerEndpoint = 4 })
	leader := c.waitReady(3)
	appID := createApp(t, leader.node(), "partition")
	_, secret := createEndpoint(t, leader.node(), appID, rc.URL("/hook"))

	// Messages go in through every node whose Raft link is up: from the cut
	// on, through the other two only.
	ld := startLoad(t, appID, func() []string {
		var urls []string
		for _, m := range c.reachable() {
			if n := m.running(); n != nil {
				urls = append(urls, n.url)
			}
		}
		return urls
	})
	ld.waitAcked(t, 20)
	burst := sendBurst(t, c, appID, 150, time.Now().Add(2*time.Second))
	var old *member
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		old = c.waitReady(3)
		for _, r := range old.attempts.all() {
			if slices.Contains(burst, r.MsgID) {
				return nil
			}
		}
		return fmt.Errorf("the leader %s has not started on the burst yet", old.id)
	})
	var backlog int
	_ = old.node().Store().View(func(r *storage.Reader) error { backlog = r.ScheduleLen(); return nil })

	cutAt := time.Now()
	old.link.cut()
	var lostAt time.Time
	checkFor(t, 3*time.Second, time.Millisecond, func() error {
		if old.node().Node().HasLease() {
			return errors.New("the cut-off leader still holds its lease")
		}
		lostAt = time.Now()
		return nil
	})
	leader = c.waitReady(3)
	ld.waitAcked(t, 40)
	ids, failed := ld.finish()
	ids = append(ids, burst...)
	dups := waitDelivered(t, rc, secret, ids)

	var during, after int
	for _, r := range old.attempts.all() {
		switch {
		case r.At.After(lostAt):
			after++
			t.Errorf("the cut-off old leader started an attempt for %s %s after losing its lease", r.MsgID, r.At.Sub(lostAt))
		case r.At.After(cutAt):
			during++
		}
	}
	t.Logf("cut with %d deliveries scheduled; lease lost after %s; %d attempts started meanwhile, %d after; "+
		"%d messages acknowledged, refused or failed %v; %d duplicate deliveries",
		backlog, lostAt.Sub(cutAt), during, after, len(ids), failed, dups)

	old.link.heal()
	if got := c.waitReady(3); got == old {
		t.Errorf("the healed old leader took over again instead of following %s", leader.id)
	}
	leader = c.waitReady(3)
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if st := old.node().Node().Raft().State(); st != hraft.Follower {
			return fmt.Errorf("the healed old leader is %s, want Follower", st)
		}
		return nil
	})
	c.waitCaughtUp(old, leader)
	if missing := missingMessages(old.node(), appID, ids); len(missing) > 0 {
		t.Errorf("the healed node lacks %d acknowledged messages, e.g. %s", len(missing), missing[0])
	}
}

// TestClusterSnapshotInstall: a follower cut off while the leader
// compacts its log past it catches up through a snapshot install and ends
// with the leader's state.
func TestClusterSnapshotInstall(t *testing.T) {
	const trailing = 16
	c := newCluster(t, 3, func(cfg *config.Config) {
		cfg.Raft.SnapshotThreshold = 64
		cfg.Raft.TrailingLogs = trailing
		cfg.Raft.SnapshotInterval = config.Duration{Duration: 200 * time.Millisecond}
	})
	leader := c.waitReady(3)
	appID := createApp(t, leader.node(), "before the cut")
	lagger := c.others(leader)[0]
	c.waitCaughtUp(lagger, leader)
	lagger.link.cut()
	held := stat(lagger, "last_log_index")

	// Write until neither of the others (whichever leads after the heal)
	// holds the entry after the follower's last one any more: raft keeps
	// its log from min(snapshot, last-trailing)+1 on.
	n := 0
	checkFor(t, 60*time.Second, time.Millisecond, func() error {
		leader = c.waitReady(3)
		for range 10 {
			createApp(t, leader.node(), "app "+strconv.Itoa(n))
			sendMessage(t, leader.node(), appID, n)
			n++
		}
		for _, m := range c.others(lagger) {
			snap, last := stat(m, "last_snapshot_index"), stat(m, "last_log_index")
			if first := min(snap, last-trailing) + 1; first <= held+1 {
				return fmt.Errorf("%s's log starts at %d, the cut-off follower holds up to %d", m.id, first, held)
			}
		}
		return nil
	})

	restored := lagger.log.seen("state restored from snapshot")
	lagger.link.heal()
	leader = c.waitReady(3)
	c.waitCaughtUp(lagger, leader)
	if lagger.log.seen("state restored from snapshot") == restored {
		t.Errorf("%s caught up without restoring a snapshot", lagger.id)
	}
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		want, got := stateDigest(t, leader.node()), stateDigest(t, lagger.node())
		if !reflect.DeepEqual(want, got) {
			return fmt.Errorf("follower state differs from the leader's: %d apps and %d messages, the leader %d and %d",
				len(got.Apps), len(got.Messages), len(want.Apps), len(want.Messages))
		}
		return nil
	})
	// It keeps applying after the restore.
	later := createApp(t, leader.node(), "after the restore")
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if r := lagger.node().do(http.MethodGet, "/api/v1/app/"+later, nil); r.status != http.StatusOK {
			return fmt.Errorf("app created after the restore: %d on the follower", r.status)
		}
		return nil
	})
}

// TestClusterRemoveNode: a follower removed through another follower
// leaves a two-voter cluster that still takes writes, and closes cleanly.
func TestClusterRemoveNode(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.waitReady(3)
	fs := c.others(leader)
	gone, via := fs[0], fs[1]

	// A retry after a 503 may find the node removed already: 404 then.
	r, retried := writeKey(t, via.node(), http.MethodDelete, "/api/v1/cluster/node/"+gone.id, nil, "")
	if r.status != http.StatusNoContent && (!retried || r.status != http.StatusNotFound) {
		t.Fatalf("remove %s through %s: %d %s", gone.id, via.id, r.status, r.body)
	}
	if r := write(t, via.node(), http.MethodDelete, "/api/v1/cluster/node/node-unknown", nil); r.status != http.StatusNotFound {
		t.Errorf("remove an unknown node: %d %s, want 404", r.status, r.body)
	}
	for _, m := range []*member{leader, via} {
		checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			var v clusterView
			r := m.node().do(http.MethodGet, "/api/v1/cluster", nil)
			r.json(t, &v)
			var ids []string
			for _, n := range v.Nodes {
				if n.Suffrage == "Voter" {
					ids = append(ids, n.ID)
				}
			}
			if slices.Contains(ids, gone.id) || len(ids) != 2 {
				return fmt.Errorf("%s lists voters %v, want 2 without %s", m.id, ids, gone.id)
			}
			return nil
		})
	}
	appID := createApp(t, via.node(), "after the removal")
	c.waitCaughtUp(via, leader)
	if r := via.node().do(http.MethodGet, "/api/v1/app/"+appID, nil); r.status != http.StatusOK {
		t.Errorf("write after the removal: %d %s", r.status, r.body)
	}
	if took := gone.stop(); took > 10*time.Second {
		t.Errorf("closing the removed node took %s", took)
	}
	members, err := c.waitReady(2).node().Node().Members()
	if err != nil || len(members) != 2 {
		t.Errorf("members after the removed node closed: %+v %v", members, err)
	}
}

// clusterView is GET /api/v1/cluster.
type clusterView struct {
	Leader string `json:"leader"`
	Nodes  []struct {
		ID       string `json:"id"`
		RaftAddr string `json:"raftAddr"`
		HTTPAddr string `json:"httpAddr"`
		Suffrage string `json:"suffrage"`
		Leader   bool   `json:"leader"`
		Status   *struct {
			ID           string `json:"id"`
			State        string `json:"state"`
			Term         uint64 `json:"term"`
			CommitIndex  uint64 `json:"commitIndex"`
			AppliedIndex uint64 `json:"appliedIndex"`
			LeaderID     string `json:"leaderId"`
		} `json:"status"`
		Disk *struct {
			State string `json:"state"`
			Dirs  []struct {
				Dir        string `json:"dir"`
				TotalBytes uint64 `json:"totalBytes"`
				FreeBytes  uint64 `json:"freeBytes"`
			} `json:"dirs"`
		} `json:"disk"`
		Error string `json:"error"`
	} `json:"nodes"`
}

// checkView checks GET /api/v1/cluster on m: every member a voter at its
// addresses, the leader of the moment throughout, and each member's own
// status.
func (c *cluster) checkView(m *member) error {
	leader, err := c.leaseHolder()
	if err != nil {
		return err
	}
	r := m.node().do(http.MethodGet, "/api/v1/cluster", nil)
	if r.status != http.StatusOK {
		return fmt.Errorf("GET /api/v1/cluster on %s: %d %s", m.id, r.status, r.body)
	}
	var v clusterView
	if err := json.Unmarshal(r.body, &v); err != nil {
		return err
	}
	if v.Leader != leader.id || len(v.Nodes) != len(c.members) {
		return fmt.Errorf("%s's view: leader %q and %d nodes, want %s and %d: %s", m.id, v.Leader, len(v.Nodes), leader.id, len(c.members), r.body)
	}
	var term uint64
	for _, n := range v.Nodes {
		o := c.member(n.ID)
		st := n.Status
		switch {
		case n.Suffrage != "Voter" || n.RaftAddr != o.raftAddr || n.HTTPAddr != o.node().HTTPAddr():
			return fmt.Errorf("%s's view of %s: %+v", m.id, n.ID, n)
		case n.Leader != (n.ID == leader.id):
			return fmt.Errorf("%s's view marks %s leader=%v", m.id, n.ID, n.Leader)
		case st == nil || n.Error != "":
			return fmt.Errorf("%s's view has no status for %s: %q", m.id, n.ID, n.Error)
		case st.ID != n.ID || st.LeaderID != leader.id || st.Term == 0 || st.CommitIndex == 0 || st.AppliedIndex == 0:
			return fmt.Errorf("%s's view of %s: status %+v", m.id, n.ID, *st)
		case (st.State == "Leader") != (n.ID == leader.id) || (n.ID != leader.id && st.State != "Follower"):
			return fmt.Errorf("%s's view: %s is %s", m.id, n.ID, st.State)
		case term != 0 && st.Term != term:
			return fmt.Errorf("%s's view: terms differ (%d and %d)", m.id, term, st.Term)
		case n.Disk == nil || n.Disk.State != "ok" || len(n.Disk.Dirs) != 2 || n.Disk.Dirs[0].Dir != "raft" ||
			n.Disk.Dirs[1].FreeBytes == 0 || n.Disk.Dirs[1].TotalBytes < n.Disk.Dirs[1].FreeBytes:
			return fmt.Errorf("%s's view of %s's disk: %s", m.id, n.ID, r.body)
		}
		term = st.Term
	}
	return nil
}

// TestClusterLeaveOnShutdown: with raft.leave_on_shutdown, a stopping node
// removes itself from the cluster (a follower directly, a leader after
// handing leadership over), so the others stop counting it for quorum.
func TestClusterLeaveOnShutdown(t *testing.T) {
	c := newCluster(t, 3, func(cfg *config.Config) { cfg.Raft.LeaveOnShutdown = true })
	leader := c.waitReady(3)
	follower := c.others(leader)[0]
	voters := func(m *member) ([]string, error) {
		var v clusterView
		r := m.node().do(http.MethodGet, "/api/v1/cluster", nil)
		if r.status != http.StatusOK {
			return nil, fmt.Errorf("cluster view: %d %s", r.status, r.body)
		}
		r.json(t, &v)
		var ids []string
		for _, n := range v.Nodes {
			if n.Suffrage == "Voter" {
				ids = append(ids, n.ID)
			}
		}
		return ids, nil
	}

	follower.stop()
	checkFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		ids, err := voters(leader)
		if err != nil || len(ids) != 2 || slices.Contains(ids, follower.id) {
			return fmt.Errorf("voters %v (%v), want 2 without %s", ids, err, follower.id)
		}
		return nil
	})

	last := c.others(leader, follower)[0]
	leader.stop()
	checkFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		ids, err := voters(last)
		if err != nil || len(ids) != 1 || ids[0] != last.id {
			return fmt.Errorf("voters %v (%v), want only %s", ids, err, last.id)
		}
		if !last.node().Node().IsLeader() {
			return fmt.Errorf("%s is not leader of its one-node cluster", last.id)
		}
		return nil
	})
	// Alone, it still takes writes: the leavers no longer count.
	if r := write(t, last.node(), http.MethodPost, "/api/v1/app", map[string]string{"name": "after the leaves"}); r.status != http.StatusCreated {
		t.Fatalf("write after both left: %d %s", r.status, r.body)
	}
}

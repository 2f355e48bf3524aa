package appliance_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/rs/zerolog"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/herald-webhooks/herald/appliance"
	"github.com/herald-webhooks/herald/config"
	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// The in-process cluster harness: appliance nodes on loopback, each with a
// fault link on its Raft traffic, a captured log and a record of the
// delivery attempts its dispatcher started.

// nodeLog captures one node's log: it counts every message, keeps the
// text, and passes warnings and errors to the test log until stopped.
type nodeLog struct {
	mu      sync.Mutex
	t       testing.TB
	id      string
	counts  map[string]int
	text    bytes.Buffer
	stopped bool
}

func (l *nodeLog) Write(p []byte) (int, error) { return l.WriteLevel(zerolog.NoLevel, p) }

func (l *nodeLog) WriteLevel(level zerolog.Level, p []byte) (int, error) {
	var line struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(p, &line)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[line.Message]++
	l.text.Write(p)
	if level >= zerolog.WarnLevel && level != zerolog.NoLevel && !l.stopped {
		l.t.Logf("%s: %s", l.id, bytes.TrimRight(p, "\n"))
	}
	return len(p), nil
}

// seen counts the lines logged with message msg.
func (l *nodeLog) seen(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[msg]
}

// contains reports whether any line logged so far contains s.
func (l *nodeLog) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Contains(l.text.Bytes(), []byte(s))
}

func (l *nodeLog) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
}

// attemptRecord is one delivery attempt a node's dispatcher started.
type attemptRecord struct {
	MsgID, EndpointID string
	At                time.Time
	// Leader: the node was Raft leader when it started it (false also
	// before Open returned, when no attempt can have been made yet).
	Leader bool
}

// attemptLog records the attempts a node started (appliance.Options.OnAttempt).
type attemptLog struct {
	node atomic.Pointer[raft.Node] // the running incarnation
	mu   sync.Mutex
	recs []attemptRecord
}

func (l *attemptLog) record(msgID, endpointID string) {
	r := attemptRecord{MsgID: msgID, EndpointID: endpointID, At: time.Now()}
	if n := l.node.Load(); n != nil {
		r.Leader = n.IsLeader()
	}
	l.mu.Lock()
	l.recs = append(l.recs, r)
	l.mu.Unlock()
}

func (l *attemptLog) all() []attemptRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]attemptRecord(nil), l.recs...)
}

// clusterSecretsKey is the secrets key of every cluster test node.
var clusterSecretsKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x42}, 32))

// cluster is a set of in-process nodes that joined one Raft cluster.
type cluster struct {
	t       *testing.T
	members []*member
	mutate  []func(*config.Config)
}

// member is one node of a test cluster across restarts: its id, data
// directory and Raft address stay; its API port is picked anew each start.
type member struct {
	c        *cluster
	id       string
	dir      string
	raftAddr string
	link     *faultLink
	log      *nodeLog
	attempts *attemptLog
	mutate   func(*config.Config) // this member's own settings, after the cluster's

	mu  sync.Mutex
	cur *testNode // nil while stopped
}

// newCluster starts size nodes: the first bootstraps, the others join
// through its API. It returns once all agree on a leader and every node's
// API address is registered. Every node is stopped when the test ends.
func newCluster(t *testing.T, size int, mutate ...func(*config.Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, mutate: mutate}
	for i := range size {
		c.add(fmt.Sprintf("node%d", i+1), nil)
	}
	// Registered first, so it runs after the nodes are closed: nothing
	// logs through t once the test is over.
	t.Cleanup(func() {
		for _, m := range c.members {
			m.log.stop()
		}
	})
	t.Cleanup(c.stopAll)

	first := c.members[0].start()
	checkFor(t, 15*time.Second, 10*time.Millisecond, func() error {
		if !first.Node().IsLeader() {
			return errors.New("the bootstrapping node is not leader yet")
		}
		return nil
	})
	for _, m := range c.members[1:] {
		m.start(first.HTTPAddr())
	}
	c.waitReady(size)
	return c
}

// add makes a member that is not started yet; mutate (may be nil) adjusts
// its configuration after the cluster's settings.
func (c *cluster) add(id string, mutate func(*config.Config)) *member {
	m := &member{
		c: c, id: id, dir: c.t.TempDir(), raftAddr: reserveRaftAddr(c.t), link: newFaultLink(),
		log: &nodeLog{t: c.t, id: id, counts: map[string]int{}}, attempts: &attemptLog{}, mutate: mutate,
	}
	c.members = append(c.members, m)
	return m
}

// config is m's configuration: short Raft timings so that failover takes
// well under a second, and receivers on loopback allowed.
func (c *cluster) config(m *member, join []string) config.Config {
	cfg := testConfig(c.t)
	cfg.DataDir = m.dir
	cfg.NodeID = m.id
	cfg.RaftAddr = m.raftAddr
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Join = join
	// Every member seals and opens endpoint secrets with the same key, as
	// an operator must set up: a node with a key of its own could not sign
	// the others' deliveries once it leads.
	cfg.SecretsKey = clusterSecretsKey
	cfg.Log.Level = "info"
	cfg.Raft.HeartbeatTimeout = config.Duration{Duration: 300 * time.Millisecond}
	cfg.Raft.ElectionTimeout = config.Duration{Duration: 300 * time.Millisecond}
	cfg.Raft.LeaderLeaseTimeout = config.Duration{Duration: 200 * time.Millisecond}
	cfg.Raft.CommitTimeout = config.Duration{Duration: 5 * time.Millisecond}
	cfg.Raft.ApplyTimeout = config.Duration{Duration: 5 * time.Second}
	cfg.Raft.JoinInterval = config.Duration{Duration: 100 * time.Millisecond}
	cfg.Raft.JoinTimeout = config.Duration{Duration: 30 * time.Second}
	for _, fn := range c.mutate {
		fn(&cfg)
	}
	if m.mutate != nil {
		m.mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		c.t.Fatalf("cluster test config invalid: %v", err)
	}
	return cfg
}

// start opens m on its data directory and Raft address; join lists the
// API addresses it joins through (none: it bootstraps, or simply restarts
// as the member it already is).
func (m *member) start(join ...string) *testNode {
	t := m.c.t
	t.Helper()
	cfg := m.c.config(m, join)
	log := zerolog.New(m.log).Level(zerolog.InfoLevel).With().Timestamp().Str("node", m.id).Logger()
	a, err := appliance.Open(cfg, appliance.Options{WrapRaftStream: m.link.wrap, OnAttempt: m.attempts.record}, log)
	if err != nil {
		t.Fatalf("open %s: %v", m.id, err)
	}
	m.attempts.node.Store(a.Node())
	n := &testNode{Appliance: a, t: t, cfg: cfg, url: "http://" + a.HTTPAddr()}
	if n.sdk, err = svix.New(testToken, &svix.SvixOptions{ServerUrl: mustURL(t, n.url)}); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	n.hc = &http.Client{
		Transport: tr, Timeout: 30 * time.Second,
		// The tests look at redirects themselves.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(tr.CloseIdleConnections)
	m.mu.Lock()
	m.cur = n
	m.mu.Unlock()
	return n
}

// node returns m's running incarnation, failing the test if it is stopped.
func (m *member) node() *testNode {
	m.c.t.Helper()
	n := m.running()
	if n == nil {
		m.c.t.Fatalf("%s is not running", m.id)
	}
	return n
}

// running returns m's running incarnation, or nil.
func (m *member) running() *testNode {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur
}

// stop closes m (a clean shutdown: a leader hands leadership over) and
// reports how long it took.
func (m *member) stop() time.Duration {
	m.mu.Lock()
	n := m.cur
	m.cur = nil
	m.mu.Unlock()
	if n == nil {
		return 0
	}
	m.attempts.node.Store(nil)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		m.c.t.Errorf("close %s: %v", m.id, err)
	}
	return time.Since(start)
}

// crash stops m as abruptly as an in-process node can go: its Raft
// traffic is cut first, so it neither hands leadership over nor reaches
// anyone while it shuts down. The link is healed for the next start.
func (m *member) crash() {
	m.link.cut()
	m.stop()
	m.link.heal()
}

func (c *cluster) stopAll() {
	var wg sync.WaitGroup
	for _, m := range c.members {
		wg.Go(func() { m.stop() })
	}
	wg.Wait()
}

// reachable are the running members whose Raft link is not cut.
func (c *cluster) reachable() []*member {
	var out []*member
	for _, m := range c.members {
		if m.running() != nil && !m.link.isCut() {
			out = append(out, m)
		}
	}
	return out
}

// member returns the member with the given id.
func (c *cluster) member(id string) *member {
	for _, m := range c.members {
		if m.id == id {
			return m
		}
	}
	c.t.Fatalf("no member %q", id)
	return nil
}

// waitReady waits until the reachable members agree on one leader, which
// holds its lease and has the given number of voters, and each of them
// has the current API address of every reachable member in its registry
// (so writes can be forwarded and the cluster view reaches everyone). It
// returns the leader.
func (c *cluster) waitReady(voters int) *member {
	c.t.Helper()
	var leader *member
	checkFor(c.t, 30*time.Second, 10*time.Millisecond, func() error {
		var err error
		if leader, err = c.leaseHolder(); err != nil {
			return err
		}
		live := c.reachable()
		members, err := leader.node().Node().Members()
		if err != nil {
			return err
		}
		if len(members) != voters {
			return fmt.Errorf("leader %s counts %d members, want %d: %+v", leader.id, len(members), voters, members)
		}
		for _, m := range live {
			n := m.node()
			if _, id := n.Node().Leader(); id != leader.id {
				return fmt.Errorf("%s sees leader %q, want %s", m.id, id, leader.id)
			}
			if got := n.Node().LeaderHTTPAddr(); got != leader.node().HTTPAddr() {
				return fmt.Errorf("%s has leader API address %q, want %s", m.id, got, leader.node().HTTPAddr())
			}
			reg := registry(n)
			for _, o := range live {
				if reg[o.id] != o.node().HTTPAddr() {
					return fmt.Errorf("%s's registry has %s at %q, want %s", m.id, o.id, reg[o.id], o.node().HTTPAddr())
				}
			}
		}
		return nil
	})
	return leader
}

// leaseHolder returns the one reachable member that holds a leader lease.
func (c *cluster) leaseHolder() (*member, error) {
	var leader *member
	for _, m := range c.reachable() {
		if m.node().Node().HasLease() {
			if leader != nil {
				return nil, fmt.Errorf("%s and %s both hold a lease", leader.id, m.id)
			}
			leader = m
		}
	}
	if leader == nil {
		return nil, errors.New("no leader holds a lease")
	}
	return leader, nil
}

// registry maps node ids to API addresses as n's state records them.
func registry(n *testNode) map[string]string {
	out := map[string]string{}
	_ = n.Store().View(func(r *storage.Reader) error {
		nodes, err := r.Nodes()
		for _, x := range nodes {
			out[x.ID] = x.HTTPAddr
		}
		return err
	})
	return out
}

// others returns the running members other than the given ones.
func (c *cluster) others(not ...*member) []*member {
	var out []*member
	for _, m := range c.members {
		skip := m.running() == nil
		for _, x := range not {
			skip = skip || x == m
		}
		if !skip {
			out = append(out, m)
		}
	}
	return out
}

// waitCaughtUp waits until m has applied everything the leader had
// applied when it was called.
func (c *cluster) waitCaughtUp(m, leader *member) {
	c.t.Helper()
	target := leader.node().Store().AppliedIndex()
	checkFor(c.t, 30*time.Second, 10*time.Millisecond, func() error {
		if got := m.node().Store().AppliedIndex(); got < target {
			return fmt.Errorf("%s applied index %d, the leader's was %d", m.id, got, target)
		}
		return nil
	})
}

// raftConfiguration is what a join may change: the servers, and how many
// configuration entries the leaders appended. (raft logs each one; its
// Stats()["latest_configuration_index"] is always 0 in raft v1.8.)
type raftConfiguration struct {
	Servers []hraft.Server
	Changes int
}

func raftConfig(t *testing.T, c *cluster, m *member) raftConfiguration {
	t.Helper()
	f := m.node().Node().Raft().GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	out := raftConfiguration{Servers: f.Configuration().Servers}
	for _, o := range c.members {
		out.Changes += o.log.seen("updating configuration")
	}
	return out
}

// stat reads a numeric Raft statistic of m.
func stat(m *member, key string) uint64 {
	v, _ := strconv.ParseUint(m.node().Node().Raft().Stats()[key], 10, 64)
	return v
}

// attemptedIDs is the set of messages m's dispatcher started attempts for.
func attemptedIDs(m *member) map[string]bool {
	out := map[string]bool{}
	for _, r := range m.attempts.all() {
		out[r.MsgID] = true
	}
	return out
}

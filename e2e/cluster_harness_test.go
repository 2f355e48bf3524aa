//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"
	"github.com/svix/svix-webhooks/go/models"
)

// Three real herald processes on loopback: node1 bootstraps, node2 and
// node3 join through it. They share the admin token; node1 has the
// secrets key in its config, and the others, started with --join and the
// token alone, receive it when they join (endpoint secrets are sealed with
// it, so any leader can sign). They run with short Raft timings so a
// failover takes about a second.

// Raft timings for the cluster tests, written into the shared config file
// (defaults: 1 s, 1 s, 500 ms). A follower checks on the leader at random
// intervals of one to two heartbeat timeouts, so it notices a dead leader
// 0.5 to 1.5 s after the last contact; the second follower refuses the
// first one's pre-vote until it has noticed too. A leader that hears from
// no quorum for the lease timeout steps down (and Herald's dispatcher stops
// at once, see raft.Node.HasLease): at half the heartbeat timeout, a
// cut-off leader has stopped before the others can elect a new one. The
// lease may not exceed the heartbeat timeout (config/validate.go). Shorter
// values make elections out of the scheduling and fsync stalls of a
// shared 2-vCPU machine.
const (
	heartbeatTimeout = 500 * time.Millisecond
	electionTimeout  = 500 * time.Millisecond
	leaseTimeout     = 250 * time.Millisecond
)

type cluster struct {
	t     *testing.T
	nodes []*node
}

// writeClusterConfig writes the TOML file the nodes start with; withKey
// puts a fresh secrets key in it.
func writeClusterConfig(t *testing.T, logLevel string, withKey bool) string {
	t.Helper()
	toml := ""
	if withKey {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			t.Fatal(err)
		}
		toml = fmt.Sprintf("secrets_key = %q\n", base64.StdEncoding.EncodeToString(key))
	}
	toml += fmt.Sprintf(`
[log]
level = %q

[delivery]
retry_schedule = ["200ms", "500ms", "1s", "2s", "5s"]

[raft]
heartbeat_timeout = %q
election_timeout = %q
leader_lease_timeout = %q
`, logLevel, heartbeatTimeout, electionTimeout, leaseTimeout)
	path := filepath.Join(t.TempDir(), "herald.toml")
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startCluster starts node1 (bootstrap), then node2 and node3 joining it,
// each ready once a write through it commits, and waits until every node
// lists all three as voters with their API addresses. logLevel "debug" logs every delivery attempt
// ("attempt made"), and Badger's chatter with it, which costs CPU: only the
// test that reads the attempts uses it.
func startCluster(t *testing.T, logLevel string) *cluster {
	t.Helper()
	first, joiner := writeClusterConfig(t, logLevel, true), writeClusterConfig(t, logLevel, false)
	c := &cluster{t: t}
	for i := 1; i <= 3; i++ {
		cfg := first
		if i > 1 {
			cfg = joiner
		}
		n := newNode(t, "--config", cfg)
		n.id = fmt.Sprintf("node%d", i)
		if i > 1 {
			n.args = append(n.args, "--join", c.nodes[0].httpAddr)
		}
		c.nodes = append(c.nodes, n)
	}
	for _, n := range c.nodes {
		n.start()
	}
	c.waitMembers(30 * time.Second)
	for _, n := range c.nodes[1:] {
		if !strings.Contains(n.logs.String(), "secrets keyring received from the cluster and saved") {
			t.Fatalf("%s did not receive the secrets keyring with its join:\n%s", n.id, n.logs)
		}
	}
	return c
}

// clusterStatus is GET /api/v1/cluster; nodeStatus is GET /api/v1/cluster/node.
type clusterStatus struct {
	Leader string `json:"leader"`
	Nodes  []struct {
		ID       string      `json:"id"`
		HTTPAddr string      `json:"httpAddr"`
		Suffrage string      `json:"suffrage"`
		Status   *nodeStatus `json:"status"`
		Error    string      `json:"error"`
	} `json:"nodes"`
}

type nodeStatus struct {
	ID           string `json:"id"`
	State        string `json:"state"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commitIndex"`
	AppliedIndex uint64 `json:"appliedIndex"`
	LeaderID     string `json:"leaderId"`
}

var statusClient = &http.Client{Timeout: 2 * time.Second}

func getJSON(n *node, path string, out any) error {
	req, err := http.NewRequest(http.MethodGet, n.baseURL().String()+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := statusClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s on %s: %s", path, n.nodeID(), resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (n *node) status() (nodeStatus, error) {
	var st nodeStatus
	err := getJSON(n, "/api/v1/cluster/node", &st)
	return st, err
}

func (c *cluster) byID(id string) *node {
	for _, n := range c.nodes {
		if n.nodeID() == id {
			return n
		}
	}
	return nil
}

func (c *cluster) others(n *node) []*node {
	var out []*node
	for _, m := range c.nodes {
		if m != n {
			out = append(out, m)
		}
	}
	return out
}

// waitMembers polls GET /api/v1/cluster on every node until each lists the
// three nodes as voters with their API addresses registered (followers
// forward writes to the leader's registered address).
func (c *cluster) waitMembers(timeout time.Duration) {
	c.t.Helper()
	checkFor(c.t, timeout, 50*time.Millisecond, func() error {
		for _, n := range c.nodes {
			var cs clusterStatus
			if err := getJSON(n, "/api/v1/cluster", &cs); err != nil {
				return err
			}
			if len(cs.Nodes) != 3 {
				return fmt.Errorf("%s lists %d members", n.nodeID(), len(cs.Nodes))
			}
			for _, m := range cs.Nodes {
				if m.Suffrage != "Voter" || m.HTTPAddr == "" {
					return fmt.Errorf("%s: member %s is %s with API %q", n.nodeID(), m.ID, m.Suffrage, m.HTTPAddr)
				}
			}
		}
		return nil
	})
}

// currentLeader asks every node of ask for its own view (GET
// /api/v1/cluster/node): they must all name the same leader, one of ask,
// which must report state Leader. (GET /api/v1/cluster would wait out its
// per-member timeout for a stopped process.)
func (c *cluster) currentLeader(ask []*node) (*node, uint64, error) {
	seen := ""
	for _, n := range ask {
		st, err := n.status()
		if err != nil {
			return nil, 0, err
		}
		if st.LeaderID == "" || (seen != "" && st.LeaderID != seen) {
			return nil, 0, fmt.Errorf("%s names leader %q, others %q", n.nodeID(), st.LeaderID, seen)
		}
		seen = st.LeaderID
	}
	leader := c.byID(seen)
	if leader == nil || !slices.Contains(ask, leader) {
		return nil, 0, fmt.Errorf("leader %q is not among the nodes asked", seen)
	}
	st, err := leader.status()
	if err != nil {
		return nil, 0, err
	}
	if st.State != "Leader" {
		return nil, 0, fmt.Errorf("named leader %s reports %s", seen, st.State)
	}
	return leader, st.Term, nil
}

// waitLeader polls until the nodes of ask agree on a leader among them.
func (c *cluster) waitLeader(ask []*node, timeout time.Duration) *node {
	c.t.Helper()
	var leader *node
	checkFor(c.t, timeout, 20*time.Millisecond, func() error {
		var err error
		leader, _, err = c.currentLeader(ask)
		return err
	})
	return leader
}

// settle waits until one leader has held the same term for a second: a
// node that just joined can cost the leader its lease once on a loaded
// machine, and the tests pick their victim after that.
func (c *cluster) settle() *node {
	c.t.Helper()
	var (
		leader *node
		term   uint64
		since  time.Time
	)
	checkFor(c.t, 30*time.Second, 50*time.Millisecond, func() error {
		l, tm, err := c.currentLeader(c.nodes)
		if err != nil {
			leader = nil
			return err
		}
		if l != leader || tm != term {
			leader, term, since = l, tm, time.Now()
		}
		if time.Since(since) < time.Second {
			return fmt.Errorf("leader %s in term %d for %v only", l.nodeID(), tm, time.Since(since))
		}
		return nil
	})
	return leader
}

// leaderAt reports whether a node's log says it was leader (dispatching)
// at the given time: its last "leadership changed" before then says true.
func leaderAt(lines []logLine, at time.Time) bool {
	leader := false
	for _, l := range lines {
		if l.Message == "leadership changed" && l.Time.Before(at) {
			leader = string(l.Leader) == "true"
		}
	}
	return leader
}

// elections counts the times any node of c became leader after t.
func (c *cluster) elections(after time.Time) int {
	k := 0
	for _, n := range c.nodes {
		for _, l := range parseLog(n.logs.String()) {
			if l.Message == "leadership changed" && string(l.Leader) == "true" && l.Time.After(after) {
				k++
			}
		}
	}
	return k
}

// killLeader points the load at the two other nodes and SIGKILLs the
// leader. Leadership can move between finding the leader and the kill; the
// victim's log (complete, as the process is gone) tells, and then it is
// restarted and the kill tried again.
func (c *cluster) killLeader(l *load) (killed *node, killAt time.Time) {
	c.t.Helper()
	for try := 1; ; try++ {
		leader := c.waitLeader(c.nodes, 20*time.Second)
		l.setTargets(c.others(leader)...)
		killAt = time.Now()
		leader.kill()
		if leaderAt(parseLog(leader.logs.String()), killAt) {
			return leader, killAt
		}
		if try == 3 {
			c.t.Fatalf("leadership kept moving: %s was no longer leader when killed, three times", leader.nodeID())
		}
		c.t.Logf("leadership left %s just before the kill; restarting it and trying again", leader.nodeID())
		leader.start()
		l.setTargets(c.nodes...)
	}
}

// ack is one message answered 2xx.
type ack struct {
	id       string
	via      string // node the request was sent to
	sent     time.Time
	answered time.Time
}

// load sends messages from workers goroutines, round-robin over its
// current targets, until stopped, maxCount messages were sent or maxTime
// passed. The SDK's retries are off, so an ack answers exactly one request.
type load struct {
	t        *testing.T
	appID    string
	targets  atomic.Pointer[[]*node]
	maxCount int64
	deadline time.Time
	sent     atomic.Int64
	stopc    chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu      sync.Mutex
	acks    []ack
	failed  int
	errs    map[string]int // failure kinds, for the report
	clients map[*node]*svix.Svix
	http    *http.Client
}

func startLoad(t *testing.T, appID string, targets []*node, workers, maxCount int, maxTime time.Duration) *load {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = workers
	l := &load{
		t: t, appID: appID, maxCount: int64(maxCount), deadline: time.Now().Add(maxTime),
		stopc: make(chan struct{}), clients: map[*node]*svix.Svix{}, errs: map[string]int{},
		// Bounded below the SDK's 60 s so a request to a stopped
		// process cannot hold the test.
		http: &http.Client{Timeout: 10 * time.Second, Transport: tr},
	}
	l.setTargets(targets...)
	for range workers {
		l.wg.Add(1)
		go l.worker()
	}
	t.Cleanup(func() { l.stop() })
	return l
}

func (l *load) setTargets(nodes ...*node) {
	ns := slices.Clone(nodes)
	l.targets.Store(&ns)
}

func (l *load) client(n *node) *svix.Svix {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.clients[n]
	if c == nil {
		noRetry := []time.Duration{}
		var err error
		c, err = svix.New(adminToken, &svix.SvixOptions{ServerUrl: n.baseURL(), RetrySchedule: &noRetry, HTTPClient: l.http})
		if err != nil {
			panic(err)
		}
		l.clients[n] = c
	}
	return c
}

func (l *load) worker() {
	defer l.wg.Done()
	for {
		select {
		case <-l.stopc:
			return
		default:
		}
		if time.Now().After(l.deadline) {
			return
		}
		i := l.sent.Add(1)
		if i > l.maxCount {
			return
		}
		targets := *l.targets.Load()
		n := targets[int(i)%len(targets)]
		payload := map[string]any{"job": fmt.Sprintf("job-%d", i), "state": "completed", "pad": strings.Repeat("x", 512)}
		sent := time.Now()
		out, err := l.client(n).Message.Create(context.Background(), l.appID, models.MessageIn{EventType: "job.completed", Payload: payload}, nil)
		l.mu.Lock()
		if err == nil {
			l.acks = append(l.acks, ack{id: out.Id, via: n.nodeID(), sent: sent, answered: time.Now()})
		} else {
			l.failed++
			l.errs[errKind(err)]++
		}
		l.mu.Unlock()
		if err != nil {
			// Refused or failed fast (no leader yet): do not spin.
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// errKind shortens an SDK error to its kind: the HTTP status and code, or
// the network failure without addresses.
func errKind(err error) string {
	var api *svix.Error
	if errors.As(err, &api) {
		var body struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(api.Body(), &body)
		return fmt.Sprintf("%d %s", api.Status(), body.Code)
	}
	msg := err.Error()
	for _, k := range []string{"connection refused", "connection reset", "EOF", "Timeout exceeded", "deadline exceeded"} {
		if strings.Contains(msg, k) {
			return k
		}
	}
	return msg
}

// errors reports the failure kinds seen so far.
func (l *load) errors() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var parts []string
	for k, v := range l.errs {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v))
	}
	slices.Sort(parts)
	return "{" + strings.Join(parts, ", ") + "}"
}

// stop ends the load and waits for requests in flight.
func (l *load) stop() {
	l.stopOnce.Do(func() { close(l.stopc) })
	l.wg.Wait()
}

func (l *load) snapshot() (acks []ack, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acks), l.failed
}

// ackedSentAfter counts acks for requests sent after t.
func (l *load) ackedSentAfter(t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := 0
	for _, a := range l.acks {
		if a.sent.After(t) {
			k++
		}
	}
	return k
}

func ids(acks []ack) []string {
	out := make([]string, len(acks))
	for i, a := range acks {
		out[i] = a.id
	}
	return out
}

// waitDelivered polls until every acked message reached the receiver with
// a signature both libraries accept.
func waitDelivered(t *testing.T, r *receiver, acks []ack, timeout time.Duration) {
	t.Helper()
	want := ids(acks)
	via := map[string]string{}
	for _, a := range acks {
		via[a.id] = a.via
	}
	checkFor(t, timeout, 100*time.Millisecond, func() error {
		if m := r.missing(want); len(m) > 0 {
			return fmt.Errorf("%d of %d acknowledged messages not delivered: %s (first acked via %s)",
				len(m), len(want), joinIDs(m), via[m[0]])
		}
		return nil
	})
	if bad := r.failures(); len(bad) > 0 {
		t.Fatalf("signature verification failed: %v", bad)
	}
}

// pauseLeader SIGSTOPs the leader once it is dispatching (its log shows
// attempts since it was found leader) and points the load at the other
// two. If the log then shows that leadership had moved just before the
// stop, the node is resumed and the pause tried again.
func (c *cluster) pauseLeader(l *load) (*node, time.Time) {
	c.t.Helper()
	for try := 1; ; try++ {
		leader := c.waitLeader(c.nodes, 20*time.Second)
		from := len(leader.logs.String())
		checkFor(c.t, 20*time.Second, 20*time.Millisecond, func() error {
			if k := strings.Count(leader.logs.String()[from:], `"message":"attempt made"`); k < 100 {
				return fmt.Errorf("leader %s made %d attempts so far", leader.nodeID(), k)
			}
			return nil
		})
		l.setTargets(c.others(leader)...)
		stopAt := time.Now()
		if err := leader.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			c.t.Fatal(err)
		}
		// What it wrote before the stop may still be in the pipe.
		size := -1
		checkFor(c.t, 5*time.Second, 20*time.Millisecond, func() error {
			if n := len(leader.logs.String()); n != size {
				size = n
				return errors.New("log still growing")
			}
			return nil
		})
		if leaderAt(parseLog(leader.logs.String()), stopAt) {
			return leader, stopAt
		}
		if try == 3 {
			c.t.Fatalf("leadership kept moving: %s was no longer leader when stopped, three times", leader.nodeID())
		}
		c.t.Logf("leadership left %s just before SIGSTOP; resuming it and trying again", leader.nodeID())
		if err := leader.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			c.t.Fatal(err)
		}
		l.setTargets(c.nodes...)
	}
}

// logLine is the part of a herald JSON log line the tests read.
type logLine struct {
	Time       time.Time       `json:"time"`
	Message    string          `json:"message"`
	DurationMs int64           `json:"duration_ms"`
	MsgID      string          `json:"msg_id"`
	Leader     json.RawMessage `json:"leader"`
}

func parseLog(s string) []logLine {
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil && !l.Time.IsZero() {
			out = append(out, l)
		}
	}
	return out
}

// becameLeader returns the first "leadership changed" to true after t.
func becameLeader(lines []logLine, after time.Time) (time.Time, bool) {
	for _, l := range lines {
		if l.Message == "leadership changed" && string(l.Leader) == "true" && l.Time.After(after) {
			return l.Time, true
		}
	}
	return time.Time{}, false
}

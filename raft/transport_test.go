package raft

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
)

// TestReplicationSurvivesRejectedAppends makes a follower's log store refuse
// a write, again and again, while the leader replicates a steady stream of
// entries. Each refusal makes the follower answer Success=false. The
// follower must catch up after each one, and every node must then shut down
// in bounded time. With hashicorp/raft's pipelined replication a refusal
// wedged the leader's replication to that follower for good (heartbeats
// went on, entries did not) and the leader's raft.Shutdown never returned
// (hashicorp/raft#612; see WithoutPipelining).
func TestReplicationSurvivesRejectedAppends(t *testing.T) {
	// The stall lets the leader queue more entries for the follower while
	// the refused write is in flight.
	flaky := make([]*flakyLogStore, 3)
	wraps := make(map[int]func(hraft.LogStore) hraft.LogStore)
	for i := range flaky {
		flaky[i] = &flakyLogStore{stall: 50 * time.Millisecond}
		wraps[i] = flaky[i].wrap
	}
	nodes := openCluster(t, 3, wraps)

	// A steady stream of writes, so the leader always has entries to send.
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if l := leaderOf(nodes); l != nil {
				_, _ = l.Apply(&CreateApp{App: testApp(fmt.Sprintf("app_%d", i))})
				continue
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	stopWriter := func() {
		select {
		case <-stop:
		default:
			close(stop)
			<-writerDone
		}
	}
	t.Cleanup(stopWriter)

	for round := range 20 {
		// Whichever node leads now, one of its followers refuses a write.
		var leader, follower *Node
		var store *flakyLogStore
		checkFor(t, 10*time.Second, time.Millisecond, func() error {
			if leader = leaderOf(nodes); leader == nil {
				return errors.New("no leader")
			}
			return nil
		})
		for i, n := range nodes {
			if n != leader {
				follower, store = n, flaky[i]
				break
			}
		}
		refused := store.refused.Load()
		store.refuseNext.Store(1)
		checkFor(t, 10*time.Second, time.Millisecond, func() error {
			if store.refused.Load() == refused {
				return fmt.Errorf("round %d: the log store of %s has not refused a write yet", round, follower.ID())
			}
			return nil
		})
		target := leader.Raft().LastIndex()
		checkFor(t, 10*time.Second, time.Millisecond, func() error {
			if got := follower.Raft().LastIndex(); got < target {
				return fmt.Errorf("round %d: follower %s stopped at log index %d, leader %s is past %d: "+
					"replication to it is wedged after a rejected append (hashicorp/raft#612)",
					round, follower.ID(), got, leader.ID(), target)
			}
			return nil
		})
	}
	stopWriter()
	for _, n := range nodes {
		closeWithin(t, n, 15*time.Second)
	}
}

// leaderOf is the node of nodes that leads now, or nil.
func leaderOf(nodes []*Node) *Node {
	for _, n := range nodes {
		if n.IsLeader() {
			return n
		}
	}
	return nil
}

// flakyLogStore refuses as many StoreLogs calls as refuseNext says, each
// after a stall, as a disk that hangs and then errors (or a log store with
// a write timeout) would.
type flakyLogStore struct {
	stall      time.Duration
	refuseNext atomic.Int32
	refused    atomic.Int32
}

func (f *flakyLogStore) wrap(s hraft.LogStore) hraft.LogStore { return &flakyLogs{LogStore: s, f: f} }

type flakyLogs struct {
	hraft.LogStore
	f *flakyLogStore
}

func (l *flakyLogs) StoreLog(log *hraft.Log) error { return l.StoreLogs([]*hraft.Log{log}) }

func (l *flakyLogs) StoreLogs(logs []*hraft.Log) error {
	for {
		n := l.f.refuseNext.Load()
		if n <= 0 {
			return l.LogStore.StoreLogs(logs)
		}
		if l.f.refuseNext.CompareAndSwap(n, n-1) {
			time.Sleep(l.f.stall)
			l.f.refused.Add(1)
			return errors.New("injected log write failure")
		}
	}
}

// openCluster starts size nodes, node-1 bootstrapped as the leader and the
// others joined to it as voters, and waits until all hold the same log.
// wrapLogs wraps the log store of the nodes at those positions. Each node
// is closed when the test ends, with a bound on how long that may take.
func openCluster(t *testing.T, size int, wrapLogs map[int]func(hraft.LogStore) hraft.LogStore) []*Node {
	t.Helper()
	nodes := make([]*Node, size)
	for i := range nodes {
		cfg := nodeConfig(t.TempDir(), "127.0.0.1:0")
		cfg.NodeID = fmt.Sprintf("node-%d", i+1)
		cfg.wrapLogs = wrapLogs[i]
		// Timeouts that a loaded machine does not turn into elections.
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 2*time.Second, 2*time.Second, time.Second
		n, err := Open(cfg, openStateStore(t, ""), Hooks{}, i == 0, quietLogger(t))
		if err != nil {
			t.Fatalf("Open %s: %v", cfg.NodeID, err)
		}
		t.Cleanup(func() { closeWithin(t, n, 15*time.Second) })
		nodes[i] = n
		if i == 0 {
			waitLeader(t, n)
			continue
		}
		checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			if err := nodes[0].Join(n.ID(), n.RaftAddr(), ""); err != nil {
				return fmt.Errorf("join %s: %w", n.ID(), err)
			}
			return nil
		})
	}
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !nodes[0].IsLeader() {
			return fmt.Errorf("%s is %v, not leader", nodes[0].ID(), nodes[0].Raft().State())
		}
		want := nodes[0].Raft().LastIndex()
		for _, n := range nodes[1:] {
			if got := n.Raft().LastIndex(); got < want {
				return fmt.Errorf("%s at log index %d, leader at %d", n.ID(), got, want)
			}
		}
		return nil
	})
	return nodes
}

// closeWithin closes n and fails the test if that takes longer than
// within; a Close that never returns is left behind rather than hanging
// the test binary.
func closeWithin(t *testing.T, n *Node, within time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- n.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close %s: %v", n.ID(), err)
		}
	case <-time.After(within):
		t.Errorf("Close %s did not return within %v: raft shutdown hangs", n.ID(), within)
	}
}

// TestWithoutPipeliningKeepsOptionalInterfaces: raft finds pre-vote and
// close support by type assertion, so the wrapper must offer exactly what
// the wrapped transport offers, and refuse pipelines in every case.
func TestWithoutPipeliningKeepsOptionalInterfaces(t *testing.T) {
	_, inmem := hraft.NewInmemTransport("")
	defer inmem.Close()
	for _, tc := range []struct {
		name              string
		inner             hraft.Transport
		preVote, closable bool
	}{
		{"prevote and close", inmem, true, true},
		{"prevote only", struct {
			hraft.Transport
			hraft.WithPreVote
		}{inmem, inmem}, true, false},
		{"close only", struct {
			hraft.Transport
			hraft.WithClose
		}{inmem, inmem}, false, true},
		{"neither", struct{ hraft.Transport }{inmem}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := WithoutPipelining(tc.inner)
			if _, ok := w.(hraft.WithPreVote); ok != tc.preVote {
				t.Errorf("WithPreVote = %v, want %v", ok, tc.preVote)
			}
			if _, ok := w.(hraft.WithClose); ok != tc.closable {
				t.Errorf("WithClose = %v, want %v", ok, tc.closable)
			}
			if p, err := w.AppendEntriesPipeline("x", "y"); p != nil || !errors.Is(err, hraft.ErrPipelineReplicationNotSupported) {
				t.Errorf("AppendEntriesPipeline = %v, %v; want ErrPipelineReplicationNotSupported", p, err)
			}
			if w.LocalAddr() != inmem.LocalAddr() {
				t.Errorf("LocalAddr = %q, want %q", w.LocalAddr(), inmem.LocalAddr())
			}
		})
	}
}

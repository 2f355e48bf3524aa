package raft

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/herald-webhooks/herald/storage"
)

// Sentinel errors of the Raft layer.
var (
	// ErrNotLeader means this node cannot accept writes; the caller should
	// forward to the leader.
	ErrNotLeader = errors.New("not the leader")
	// ErrUnknownOutcome means the command may or may not have been
	// committed (leadership was lost while it was in flight); clients retry
	// with the same idempotency key.
	ErrUnknownOutcome = errors.New("outcome unknown: leadership lost")
	// ErrShutdown means the node is closing.
	ErrShutdown = errors.New("raft node shut down")
	// ErrNodeRemoved refuses a join from a node an operator removed: it
	// may join again only once an operator allows it (AllowRejoin).
	ErrNodeRemoved = errors.New("node was removed from the cluster")
	// errNotAdvertisable means the Raft address is a wildcard and no
	// advertise address was given, so other nodes could not dial it.
	errNotAdvertisable = errors.New("raft address is not advertisable: set raft_advertise")
)

// Config is what a node needs to run Raft.
type Config struct {
	NodeID        string
	BindAddr      string // host:port the transport listens on
	AdvertiseAddr string // host:port other nodes dial; empty = the bound address
	Dir           string // data directory; raft/ and snapshots/ live under it
	// Listener, when set, is the transport's listener, bound by the caller
	// on BindAddr (so a busy port fails a start before anything is
	// written); the node owns it from Open on, and Open closes it on
	// failure. Nil: Open listens on BindAddr itself.
	Listener net.Listener

	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	ApplyTimeout       time.Duration
	MaxAppendEntries   int
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration
	TrailingLogs       uint64
	// ValueLogGCInterval is how often the log store's value-log garbage
	// collection runs (default 5 minutes).
	ValueLogGCInterval time.Duration

	// TLS, when set, runs the transport over TLS (see tls.go).
	TLS *TLS
	// DiskCheck, when set, is asked before each new log entry is written
	// (here and in the log store) and before each snapshot: an error
	// refuses it, so a nearly full disk is met by refusals, never by a
	// fault in a memory-mapped write.
	DiskCheck func() error

	// WrapStream, when set, wraps the TCP stream layer raft talks over:
	// tests use it to cut and heal a node's Raft traffic.
	WrapStream func(hraft.StreamLayer) hraft.StreamLayer

	// wrapLogs, when set, wraps the log store raft writes entries to:
	// tests use it to make a node's log writes fail.
	wrapLogs func(hraft.LogStore) hraft.LogStore
}

// Node is this process's Raft member: the log store, transport, snapshot
// store and FSM, wired to hashicorp/raft.
type Node struct {
	cfg       Config
	raft      *hraft.Raft
	fsm       *FSM
	logs      *LogStore
	transport *hraft.NetworkTransport
	snapshots *hraft.FileSnapshotStore
	store     *storage.Store
	log       zerolog.Logger
	// waiting counts items submitted to this node's batchers that wait
	// for a free slot: writers the log is holding back.
	waiting atomic.Int64

	leaderMu   sync.Mutex
	leaderSubs []func(bool)
	isLeader   bool
	stopWatch  chan struct{}
	watchDone  chan struct{}
	down       chan struct{} // closed once raft has shut down
	closeOnce  sync.Once

	// verified is when a quorum last confirmed this node's leadership
	// (see HasLease).
	verified atomic.Pointer[time.Time]
	// snapshotChecks counts snapshotLoop's passes; lets tests see it run.
	snapshotChecks atomic.Uint64
}

// Open starts the Raft member over store. When bootstrap is set and the node
// has no Raft state yet, it bootstraps a one-node cluster of itself.
func Open(cfg Config, store *storage.Store, hooks Hooks, bootstrap bool, log zerolog.Logger) (*Node, error) {
	n := &Node{cfg: cfg, store: store, log: log, stopWatch: make(chan struct{}), watchDone: make(chan struct{}), down: make(chan struct{})}
	var err error
	gc := cfg.ValueLogGCInterval
	if gc <= 0 {
		gc = logStoreGCInterval
	}
	if n.logs, err = openLogStore(filepath.Join(cfg.Dir, "raft"), log.With().Str("store", "raft-log").Logger(), gc); err != nil {
		if cfg.Listener != nil {
			_ = cfg.Listener.Close()
		}
		return nil, err
	}
	n.logs.diskCheck = cfg.DiskCheck
	fail := func(err error) (*Node, error) {
		if n.transport != nil {
			_ = n.transport.Close()
		} else if cfg.Listener != nil {
			_ = cfg.Listener.Close()
		}
		_ = n.logs.Close()
		return nil, err
	}
	hlog := NewHCLogger(log, "raft")
	// The store keeps its files in <dir>/snapshots.
	if n.snapshots, err = hraft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hlog); err != nil {
		return fail(fmt.Errorf("open snapshot store: %w", err))
	}
	if err := n.catchUpFromSnapshot(); err != nil {
		return fail(err)
	}
	var advertise net.Addr
	if cfg.AdvertiseAddr != "" {
		if advertise, err = net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr); err != nil {
			return fail(fmt.Errorf("raft advertise address: %w", err))
		}
	}
	stream, err := listenTCP(cfg.BindAddr, cfg.Listener, advertise)
	if err != nil {
		return fail(fmt.Errorf("raft transport on %s: %w", cfg.BindAddr, err))
	}
	layer := withTLS(stream, cfg.TLS)
	if cfg.WrapStream != nil {
		layer = cfg.WrapStream(layer)
	}
	n.transport = hraft.NewNetworkTransportWithConfig(&hraft.NetworkTransportConfig{
		Stream:  layer,
		Logger:  hlog,
		MaxPool: 5,
		Timeout: 10 * time.Second,
	})
	n.fsm = NewFSM(store, hooks, log)

	rc := hraft.DefaultConfig()
	rc.LocalID = hraft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	rc.BatchApplyCh = true
	rc.NoSnapshotRestoreOnStart = true
	setIf(&rc.HeartbeatTimeout, cfg.HeartbeatTimeout)
	setIf(&rc.ElectionTimeout, cfg.ElectionTimeout)
	setIf(&rc.LeaderLeaseTimeout, cfg.LeaderLeaseTimeout)
	setIf(&rc.CommitTimeout, cfg.CommitTimeout)
	setIf(&rc.SnapshotInterval, cfg.SnapshotInterval)
	if cfg.MaxAppendEntries > 0 {
		rc.MaxAppendEntries = cfg.MaxAppendEntries
	}
	// Snapshots follow this node's own policy (snapshotLoop); raft's
	// threshold is put out of reach so it never takes one on its own.
	rc.SnapshotThreshold = math.MaxUint64
	if n.cfg.SnapshotThreshold == 0 {
		n.cfg.SnapshotThreshold = hraft.DefaultConfig().SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	if err := hraft.ValidateConfig(rc); err != nil {
		return fail(fmt.Errorf("raft config: %w", err))
	}

	if err := n.recoverPeers(rc); err != nil {
		return fail(err)
	}
	existing, err := hraft.HasExistingState(n.logs, n.logs, n.snapshots)
	if err != nil {
		return fail(fmt.Errorf("check raft state: %w", err))
	}
	if !existing && bootstrap {
		conf := hraft.Configuration{Servers: []hraft.Server{{
			Suffrage: hraft.Voter, ID: rc.LocalID, Address: n.transport.LocalAddr(),
		}}}
		if err := hraft.BootstrapCluster(rc, n.logs, n.logs, n.snapshots, n.transport, conf); err != nil {
			return fail(fmt.Errorf("bootstrap cluster: %w", err))
		}
		log.Info().Str("node_id", cfg.NodeID).Str("raft_addr", string(n.transport.LocalAddr())).Msg("bootstrapped one-node cluster")
	}
	var logs hraft.LogStore = n.logs
	if cfg.wrapLogs != nil {
		logs = cfg.wrapLogs(logs)
	}
	if n.raft, err = hraft.NewRaft(rc, n.fsm, logs, n.logs, n.snapshots, WithoutPipelining(n.transport)); err != nil {
		return fail(fmt.Errorf("start raft: %w", err))
	}
	go n.watchLeadership()
	go n.verifyLeadership()
	go n.snapshotLoop(rc.SnapshotInterval, n.snapshotBase())
	return n, nil
}

// snapshotLoop takes a snapshot, and so lets raft compact its log, once
// both hold: at least SnapshotThreshold entries were applied since the last
// one, and the log written since then is at least as large as that
// snapshot. A snapshot copies the whole state, so with entries alone as the
// trigger a node holding a large backlog (a million messages make a 2 GiB
// state) rewrote it every minute, ten times the bytes of the log it let go;
// with the size rule a snapshot never costs more than the log it replaces,
// and the log kept on disk stays about the size of the state.
func (n *Node) snapshotLoop(interval time.Duration, base int64) {
	// A random first wait: nodes started together would otherwise check,
	// and snapshot, at the same moments.
	select {
	case <-n.stopWatch:
		return
	case <-time.After(rand.N(interval)):
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-n.stopWatch:
			return
		case <-t.C:
		}
		n.maybeSnapshot(&base)
		n.snapshotChecks.Add(1)
	}
}

// snapshotBase is what the log store's Written count would have been when
// the last snapshot was taken: minus the log kept since that snapshot, so a
// node restarted often still snapshots once its log is large enough.
func (n *Node) snapshotBase() int64 {
	base := n.logs.Written()
	if metas, err := n.snapshots.List(); err == nil && len(metas) > 0 {
		if kept, err := n.logs.BytesAfter(metas[0].Index); err == nil {
			base -= kept
		}
	}
	return base
}

// maybeSnapshot takes a snapshot if the policy above says so; base is the
// log's Written count at the last one.
func (n *Node) maybeSnapshot(base *int64) {
	metas, err := n.snapshots.List()
	if err != nil {
		n.log.Warn().Err(err).Msg("list snapshots")
		return
	}
	var lastIndex uint64
	var lastSize int64
	if len(metas) > 0 {
		lastIndex, lastSize = metas[0].Index, metas[0].Size
	}
	written := n.logs.Written()
	if n.raft.AppliedIndex() < lastIndex+n.cfg.SnapshotThreshold || written-*base < lastSize {
		return
	}
	// A snapshot writes a copy of the whole state: on a full disk it
	// would use up the room Badger's memory-mapped files need. It waits
	// for space, like new entries.
	if n.cfg.DiskCheck != nil && n.cfg.DiskCheck() != nil {
		return
	}
	err = n.raft.Snapshot().Error()
	switch {
	case err == nil:
		// Counted from the end: entries appended while the snapshot was
		// taken may be in it, and must not count towards the next one.
		*base = n.logs.Written()
	case errors.Is(err, hraft.ErrNothingNewToSnapshot), errors.Is(err, hraft.ErrRaftShutdown):
	default:
		n.log.Warn().Err(err).Msg("snapshot failed")
	}
}

func setIf(dst *time.Duration, v time.Duration) {
	if v > 0 {
		*dst = v
	}
}

// PeersFile is the manual recovery file: when a cluster lost its quorum for
// good, the operator writes the surviving members into <data>/peers.json on
// each of them (hashicorp/raft's format: [{"id": "...", "address":
// "host:port", "non_voter": false}]) and restarts them.
const PeersFile = "peers.json"

// recoverPeers applies a peers.json the operator placed in the data
// directory: raft's RecoverCluster rewrites this node's configuration to the
// listed members, and the file is renamed so it is applied once.
func (n *Node) recoverPeers(rc *hraft.Config) error {
	path := filepath.Join(n.cfg.Dir, PeersFile)
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	conf, err := hraft.ReadConfigJSON(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	n.log.Warn().Str("file", path).Int("members", len(conf.Servers)).Msg("recovering the cluster configuration from peers.json")
	if err := hraft.RecoverCluster(rc, n.fsm, n.logs, n.logs, n.snapshots, n.transport, conf); err != nil {
		return fmt.Errorf("recover cluster from %s: %w", path, err)
	}
	done := path + ".applied-" + time.Now().UTC().Format("20060102T150405Z")
	if err := os.Rename(path, done); err != nil {
		return fmt.Errorf("recovered, but could not rename %s: %w", path, err)
	}
	n.log.Warn().Str("file", done).Msg("cluster configuration recovered; peers.json renamed")
	return nil
}

// catchUpFromSnapshot restores the newest local snapshot into the state when
// the state is older than it. Raft runs with NoSnapshotRestoreOnStart and
// replays only the log after the snapshot, so a state that lost writes (its
// directory was replaced, or the machine lost unsynced pages) would
// otherwise silently miss entries.
func (n *Node) catchUpFromSnapshot() error {
	metas, err := n.snapshots.List()
	if err != nil || len(metas) == 0 {
		return err
	}
	latest := metas[0]
	if n.store.AppliedIndex() >= latest.Index {
		return nil
	}
	// Raft's snapshot index may be a no-op or barrier entry the FSM never
	// saw; what counts is the state index recorded in the snapshot itself.
	_, rc, err := n.snapshots.Open(latest.ID)
	if err != nil {
		return fmt.Errorf("open snapshot %s: %w", latest.ID, err)
	}
	held, err := storage.SnapshotIndex(rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("read snapshot %s: %w", latest.ID, err)
	}
	if n.store.AppliedIndex() >= held {
		return nil
	}
	n.log.Warn().Uint64("state_index", n.store.AppliedIndex()).Uint64("snapshot_index", held).
		Msg("state is behind the latest snapshot, restoring it")
	_, rc, err = n.snapshots.Open(latest.ID)
	if err != nil {
		return fmt.Errorf("open snapshot %s: %w", latest.ID, err)
	}
	defer rc.Close()
	return n.store.RestoreFrom(rc)
}

// Raft returns the underlying hashicorp/raft instance (cluster operations).
func (n *Node) Raft() *hraft.Raft { return n.raft }

// ID returns this node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// RaftAddr returns the address other nodes use to reach this node's Raft.
func (n *Node) RaftAddr() string { return string(n.transport.LocalAddr()) }

// IsLeader reports whether this node is the leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == hraft.Leader }

// Leader returns the current leader's Raft address and id, empty if unknown.
func (n *Node) Leader() (addr, id string) {
	a, i := n.raft.LeaderWithID()
	return string(a), string(i)
}

// Apply replicates cmd and waits until it is applied on this node. The
// response is a Result, or []Result for batch commands.
func (n *Node) Apply(cmd Command) (any, error) {
	return n.wait(n.ApplyAsync(cmd))
}

// ApplyAsync starts replicating cmd; Wait on the returned future.
func (n *Node) ApplyAsync(cmd Command) hraft.ApplyFuture {
	select {
	case <-n.down:
		// raft may still queue it, and would never answer.
		return shutdownFuture{}
	default:
	}
	if n.cfg.DiskCheck != nil {
		if err := n.cfg.DiskCheck(); err != nil {
			return errorFuture{err}
		}
	}
	return n.raft.Apply(Encode(cmd), n.cfg.ApplyTimeout)
}

// Waiting is how many items submitted to this node's batchers (client
// writes, delivery outcomes) wait for a command slot: more than 0 means
// the log is the bottleneck, and background work should yield.
func (n *Node) Waiting() int64 { return n.waiting.Load() }

// Wait waits for a future from ApplyAsync and maps raft's errors.
func (n *Node) Wait(f hraft.ApplyFuture) (any, error) { return n.wait(f) }

func (n *Node) wait(f hraft.ApplyFuture) (any, error) {
	if err := n.futureError(f); err != nil {
		switch {
		case errors.Is(err, hraft.ErrNotLeader):
			return nil, ErrNotLeader
		case errors.Is(err, hraft.ErrLeadershipLost), errors.Is(err, hraft.ErrLeadershipTransferInProgress),
			errors.Is(err, hraft.ErrEnqueueTimeout):
			return nil, fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
		case errors.Is(err, hraft.ErrRaftShutdown):
			return nil, ErrShutdown
		}
		return nil, err
	}
	return f.Response(), nil
}

// futureError waits for f. hashicorp/raft never answers a future still in
// its apply queue when it shuts down (it does not drain the queue, and may
// even queue an Apply or Barrier made after Shutdown), so the wait also ends
// once this node has shut raft down.
func (n *Node) futureError(f hraft.Future) error {
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		return err
	case <-n.down:
		select {
		case err := <-errc:
			return err
		default:
			return hraft.ErrRaftShutdown
		}
	}
}

// shutdownFuture is the answer to an apply made after Close.
type shutdownFuture struct{}

func (shutdownFuture) Error() error  { return hraft.ErrRaftShutdown }
func (shutdownFuture) Index() uint64 { return 0 }
func (shutdownFuture) Response() any { return nil }

// errorFuture answers an apply refused before it reached raft.
type errorFuture struct{ err error }

func (f errorFuture) Error() error { return f.err }
func (errorFuture) Index() uint64  { return 0 }
func (errorFuture) Response() any  { return nil }

// Barrier waits until every entry committed before it is applied locally.
func (n *Node) Barrier(timeout time.Duration) error {
	select {
	case <-n.down:
		return ErrShutdown
	default:
	}
	err := n.futureError(n.raft.Barrier(timeout))
	if errors.Is(err, hraft.ErrRaftShutdown) {
		return ErrShutdown
	}
	return err
}

// Snapshot forces a snapshot now.
func (n *Node) Snapshot() error { return n.raft.Snapshot().Error() }

// OnLeadership registers fn to be called with true when this node becomes
// leader (after every earlier entry is applied locally) and false when it
// stops being leader. Calls are serialised and never repeat a value.
func (n *Node) OnLeadership(fn func(leader bool)) {
	n.leaderMu.Lock()
	defer n.leaderMu.Unlock()
	n.leaderSubs = append(n.leaderSubs, fn)
}

// HasLease reports whether this node is the leader and a quorum confirmed
// it within the last leader lease timeout. The dispatcher checks it before
// every attempt: a leader cut off from the others, or a process paused and
// resumed, may still believe it leads for a while, but it cannot renew the
// lease, so it starts no new deliveries once the lease has run out. (An
// attempt whose check passed just before a pause may still go out when the
// process resumes: delivery is at least once, with the same webhook-id.)
func (n *Node) HasLease() bool {
	at := n.verified.Load()
	return at != nil && time.Since(*at) < n.leaseTimeout() && n.IsLeader()
}

func (n *Node) leaseTimeout() time.Duration {
	if n.cfg.LeaderLeaseTimeout > 0 {
		return n.cfg.LeaderLeaseTimeout
	}
	return hraft.DefaultConfig().LeaderLeaseTimeout
}

// verifyLeadership renews the lease while this node leads, asking a quorum
// a few times per lease period. The asks overlap (each runs on its own,
// at most a few at once): one slow round trip under load must not leave
// the lease to lapse while the next ask waits behind it.
func (n *Node) verifyLeadership() {
	t := time.NewTicker(n.leaseTimeout() / 4)
	defer t.Stop()
	asks := make(chan struct{}, 4)
	for {
		select {
		case <-n.stopWatch:
			return
		case <-t.C:
		}
		if n.raft.State() != hraft.Leader {
			continue
		}
		select {
		case asks <- struct{}{}:
		default:
			continue // enough asks already out
		}
		start := time.Now()
		go func() {
			defer func() { <-asks }()
			if n.raft.VerifyLeader().Error() == nil {
				n.renewLease(start)
			}
		}()
	}
}

// renewLease records a quorum confirmation of leadership asked at start,
// unless a later one is recorded already.
func (n *Node) renewLease(start time.Time) {
	for {
		cur := n.verified.Load()
		if cur != nil && !cur.Before(start) {
			return
		}
		if n.verified.CompareAndSwap(cur, &start) {
			return
		}
	}
}

// watchLeadership turns raft's leadership signals into OnLeadership calls.
// raft's LeaderCh may drop signals when nobody listens, so the actual state
// is re-read on every signal and on a short tick as well.
func (n *Node) watchLeadership() {
	defer close(n.watchDone)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-n.stopWatch:
			n.setLeader(false)
			return
		case <-n.raft.LeaderCh():
		case <-tick.C:
		}
		leader := n.IsLeader()
		if leader && !n.isLeader {
			// Apply everything the previous leader committed before
			// anyone dispatches from the schedule index.
			start := time.Now()
			if err := n.Barrier(n.cfg.ApplyTimeout); err != nil {
				n.log.Warn().Err(err).Msg("leadership barrier failed")
				continue
			}
			// The barrier was committed by a quorum: a first lease.
			n.renewLease(start)
			leader = n.IsLeader()
		}
		n.setLeader(leader)
	}
}

func (n *Node) setLeader(leader bool) {
	n.leaderMu.Lock()
	defer n.leaderMu.Unlock()
	if leader == n.isLeader {
		return
	}
	n.isLeader = leader
	n.log.Info().Bool("leader", leader).Str("node_id", n.cfg.NodeID).Msg("leadership changed")
	for _, fn := range n.leaderSubs {
		fn(leader)
	}
}

// Close shuts raft down and closes the log store. The state store belongs to
// the caller.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		close(n.stopWatch)
		<-n.watchDone
		shutdown := n.raft.Shutdown()
		// Stop answering RPCs at once, not after raft's goroutines end: raft
		// waits for its own RPCs in flight, and a peer shutting down at the
		// same moment answers none until its transport closes, so two nodes
		// stopped together (a leader handing over to one that is stopping
		// too) each waited out the transport timeout for the other.
		terr := n.transport.Close()
		if ferr := shutdown.Error(); ferr != nil {
			err = fmt.Errorf("shut down raft: %w", ferr)
		}
		close(n.down)
		if terr != nil && err == nil {
			err = terr
		}
		if cerr := n.logs.Close(); cerr != nil && err == nil {
			err = cerr
		}
	})
	return err
}

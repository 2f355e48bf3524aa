//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/svix/svix-webhooks/go/models"
)

// Three-node tests: three real herald processes on loopback (the cluster,
// load and log helpers are in cluster_harness_test.go).

// TestClusterKillLeaderUnderLoad: clients load all three nodes; the leader
// is SIGKILLed mid-load and the load goes on through the two survivors.
// Every message answered 2xx is delivered (signed, verified by both
// libraries); duplicates are counted. The killed node then restarts on the
// same data directory and ports and catches up with the leader's log.
func TestClusterKillLeaderUnderLoad(t *testing.T) {
	const perPhase = 2000 // acks wanted before the kill, and again after it
	r := newReceiver(t)
	c := startCluster(t, "info")
	began := time.Now()
	appID := setup(t, c.settle().client(), r)

	loadAt := time.Now()
	l := startLoad(t, appID, c.nodes, 16, 20000, 30*time.Second)
	checkFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		acks, _ := l.snapshot()
		if len(acks) < perPhase {
			return fmt.Errorf("only %d acks before the kill", len(acks))
		}
		return nil
	})
	leader, killAt := c.killLeader(l)
	ackedBefore, failedBefore := l.snapshot()
	survivors := c.others(leader)
	checkFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		if k := l.ackedSentAfter(killAt); k < perPhase {
			return fmt.Errorf("only %d acks through the survivors since the kill", k)
		}
		return nil
	})
	l.stop()
	stopAt := time.Now()
	acks, failed := l.snapshot()
	newLeader := c.waitLeader(survivors, 20*time.Second)
	t.Logf("leader %s killed after %d acks in %v (%d requests failed); %d more acked through %s and %s in %v (%d failed); new leader %s",
		leader.nodeID(), len(ackedBefore), killAt.Sub(loadAt).Round(time.Millisecond), failedBefore,
		len(acks)-len(ackedBefore), survivors[0].nodeID(), survivors[1].nodeID(), stopAt.Sub(killAt).Round(time.Millisecond), failed-failedBefore,
		newLeader.nodeID())
	t.Logf("failed requests by kind: %s", l.errors())

	waitDelivered(t, r, acks, 60*time.Second)
	t.Logf("all %d acknowledged messages delivered; %d duplicates; %d leader elections since setup", len(acks), r.duplicates(), c.elections(began))

	// The killed node restarts with the same data directory, ports and
	// flags (its --join is skipped: it is a voter already) and catches up.
	leader.start()
	// A last write through the restarted node makes the leader's newest
	// entry a command the FSM applies (a Raft no-op or barrier is not
	// applied, so the applied index would never reach it).
	if _, err := leader.client().EventType.Update(context.Background(), "e2e.caught-up", withDescription("catch-up marker")); err != nil {
		t.Fatalf("write through the restarted node: %v", err)
	}
	cur := c.waitLeader(c.nodes, 20*time.Second)
	st, err := cur.status()
	if err != nil {
		t.Fatal(err)
	}
	target := st.CommitIndex
	checkFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		got, err := leader.status()
		if err != nil {
			return err
		}
		if got.AppliedIndex < target {
			return fmt.Errorf("restarted %s applied %d of the leader's commit index %d", leader.nodeID(), got.AppliedIndex, target)
		}
		return nil
	})
	t.Logf("restarted %s caught up to the leader's commit index %d", leader.nodeID(), target)
}

// TestClusterPausedLeaderStartsNothing: the leader is SIGSTOPped for a few
// seconds under load (clients switch to the other two nodes, which elect a
// new leader), then SIGCONTed. A resumed process still believes it leads
// until it hears of the new term, but it cannot renew its lease, so it must
// start no delivery attempt. Evidence is the paused node's own debug log:
// each "attempt made" line is written when the attempt ends, with its
// duration, so the attempt started at time - duration_ms. Attempts that
// started before SIGSTOP (in flight while paused) may end after SIGCONT; an
// attempt that starts after SIGCONT must not exist unless the node became
// leader again first. Every acked message is still delivered.
//
// What this cannot show: the resumed node reads the vote requests the
// others sent while it was stopped and steps down within a few
// milliseconds of SIGCONT, so even a dispatcher that ignored its lease
// would start little in that time. A leader that cannot hear the new term
// (a partition) is the lease's real test: appliance's in-process
// TestClusterPartitionedLeader cuts a leader's Raft link for that.
func TestClusterPausedLeaderStartsNothing(t *testing.T) {
	// A worker that passed the lease check just before SIGSTOP sends its
	// request only after SIGCONT (the check cannot be atomic with the
	// send): such attempts start within grace of SIGCONT, and are listed.
	const grace = 100 * time.Millisecond
	const pause = 3 * time.Second

	r := newReceiver(t)
	// Slow enough that attempts are in flight when the leader stops.
	r.set(http.StatusOK, 20*time.Millisecond)
	c := startCluster(t, "debug")
	began := time.Now()
	appID := setup(t, c.settle().client(), r)

	l := startLoad(t, appID, c.nodes, 16, 20000, 25*time.Second)
	leader, stopAt := c.pauseLeader(l)
	others := c.others(leader)
	// The others elect a new leader while this one is frozen, and take
	// writes again: a fresh request through the other survivor commits
	// (the load's workers may all be stuck in forwards to the frozen node).
	newLeader := c.waitLeader(others, 15*time.Second)
	electedAfter := time.Since(stopAt)
	var (
		probe   time.Duration
		probeID string
	)
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		via := c.others(newLeader)[0]
		if via == leader {
			via = newLeader
		}
		out, err := l.client(via).Message.Create(ctx, appID, models.MessageIn{EventType: "job.completed", Payload: map[string]any{"probe": true}}, nil)
		probe = time.Since(start)
		if err != nil {
			return err
		}
		probeID = out.Id
		return nil
	})
	if left := pause - time.Since(stopAt); left > 0 {
		time.Sleep(left) // the pause itself is the fault, not a wait for a condition
	}
	contAt := time.Now()
	if err := leader.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if k := l.ackedSentAfter(contAt); k < 300 {
			return fmt.Errorf("only %d acks since SIGCONT", k)
		}
		return nil
	})
	l.stop()
	acks, failed := l.snapshot()
	waitDelivered(t, r, append(acks, ack{id: probeID, via: "probe"}), 60*time.Second)
	// Writes through the others while the old leader was frozen: a
	// follower forwards to the leader it knows, and a forward to a frozen
	// process waits for it (up to the forward timeout).
	duringPause, firstDuring := 0, time.Duration(0)
	for _, a := range acks {
		if a.sent.After(stopAt) && a.answered.Before(contAt) {
			duringPause++
			if d := a.answered.Sub(stopAt); firstDuring == 0 || d < firstDuring {
				firstDuring = d
			}
		}
	}
	loadDuring := "none of the load's own requests was acked (each worker waits on a forward to the frozen node)"
	if duringPause > 0 {
		loadDuring = fmt.Sprintf("%d of the load's own requests acked, the first %v after SIGSTOP", duringPause, firstDuring.Round(time.Millisecond))
	}
	t.Logf("while %s was stopped: new leader after %v, a fresh write through a follower took %v; %s",
		leader.nodeID(), electedAfter.Round(time.Millisecond), probe.Round(time.Millisecond), loadDuring)

	// The resumed node is a follower of some leader again.
	checkFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		st, err := leader.status()
		if err != nil {
			return err
		}
		if st.State != "Follower" || st.LeaderID == "" {
			return fmt.Errorf("resumed %s is %s, leader %q", leader.nodeID(), st.State, st.LeaderID)
		}
		return nil
	})

	lines := parseLog(leader.logs.String())
	regain, regained := becameLeader(lines, contAt)
	var before, inFlight, afterRegain int
	var inGrace, violations []string
	for _, ln := range lines {
		if ln.Message != "attempt made" {
			continue
		}
		// Log times are wall clock; the duration is truncated to ms.
		started := ln.Time.Add(-time.Duration(ln.DurationMs+1) * time.Millisecond)
		desc := fmt.Sprintf("%s started ~%v after SIGCONT (logged %s, %d ms)",
			ln.MsgID, started.Sub(contAt).Round(100*time.Microsecond), ln.Time.Format(time.RFC3339Nano), ln.DurationMs)
		switch {
		case ln.Time.Before(stopAt):
			before++
		case started.Before(stopAt):
			inFlight++ // started before the pause, answered after it
		case regained && !started.Before(regain):
			afterRegain++
		case started.Before(contAt.Add(grace)):
			inGrace = append(inGrace, desc)
		default:
			violations = append(violations, desc)
		}
	}
	t.Logf("paused %s for %v (new leader %s); attempts by it: %d before SIGSTOP, %d in flight across the pause, %d started within %v of SIGCONT, %d after regaining leadership (regained: %v)",
		leader.nodeID(), contAt.Sub(stopAt).Round(time.Millisecond), newLeader.nodeID(),
		before, inFlight, len(inGrace), grace, afterRegain, regained)
	for _, s := range inGrace {
		t.Logf("  within grace: %s", s)
	}
	t.Logf("%d messages acked, %d requests failed %s, all delivered; %d duplicates; %d leader elections since setup",
		len(acks), failed, l.errors(), r.duplicates(), c.elections(began))
	if before == 0 {
		t.Fatalf("%s made no attempt before it was paused: the test proves nothing", leader.nodeID())
	}
	if len(violations) > 0 {
		t.Errorf("%d attempts started by %s after SIGCONT without a lease:\n%s", len(violations), leader.nodeID(), strings.Join(violations, "\n"))
	}
}

// TestClusterFailoverTime measures a failover: time from SIGKILL of the
// leader to (a) the first 2xx for a message sent to a surviving node after
// the kill and (b) the first delivery of such a message. These are figures
// for docs/FAILOVER.md, not assertions (beyond a sanity bound); with
// HERALD_FAILOVER_OUT set, one JSON line per run is appended to that file.
func TestClusterFailoverTime(t *testing.T) {
	r := newReceiver(t)
	c := startCluster(t, "info")
	began := time.Now()
	appID := setup(t, c.settle().client(), r)

	// Moderate load through all three, then through the survivors.
	l := startLoad(t, appID, c.nodes, 8, 20000, 25*time.Second)
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		acks, _ := l.snapshot()
		if len(acks) < 300 {
			return fmt.Errorf("only %d acks before the kill", len(acks))
		}
		return nil
	})
	leader, killAt := c.killLeader(l)
	survivors := c.others(leader)

	var firstAck, firstDelivery time.Duration
	checkFor(t, 30*time.Second, 5*time.Millisecond, func() error {
		acks, _ := l.snapshot()
		firstAck, firstDelivery = 0, 0
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, a := range acks {
			if !a.sent.After(killAt) {
				continue
			}
			if d := a.answered.Sub(killAt); firstAck == 0 || d < firstAck {
				firstAck = d
			}
			if at, ok := r.firstAt[a.id]; ok {
				if d := at.Sub(killAt); firstDelivery == 0 || d < firstDelivery {
					firstDelivery = d
				}
			}
		}
		if firstAck == 0 || firstDelivery == 0 {
			return fmt.Errorf("no ack or delivery of a message sent after the kill yet")
		}
		return nil
	})
	// Later acks cannot be earlier than these, but a message acked first
	// may be delivered later than one acked after it: let the load run a
	// moment, then take the minimum over everything.
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if k := l.ackedSentAfter(killAt); k < 200 {
			return fmt.Errorf("only %d acks since the kill", k)
		}
		return nil
	})
	l.stop()
	acks, failed := l.snapshot()
	waitDelivered(t, r, acks, 60*time.Second)
	var after []ack
	for _, a := range acks {
		if a.sent.After(killAt) {
			after = append(after, a)
		}
	}
	r.mu.Lock()
	for _, a := range after {
		if d := r.firstAt[a.id].Sub(killAt); d < firstDelivery {
			firstDelivery = d
		}
	}
	r.mu.Unlock()

	// When a survivor noticed, won the election and took over (the
	// leadership barrier applied: it dispatches from then on), from the
	// survivors' logs.
	var noticed, won, elected time.Duration
	var newLeader string
	first := func(cur *time.Duration, at time.Time) {
		if d := at.Sub(killAt); *cur == 0 || d < *cur {
			*cur = d
		}
	}
	for _, n := range survivors {
		for _, ln := range parseLog(n.logs.String()) {
			if !ln.Time.After(killAt) {
				continue
			}
			switch ln.Message {
			case "heartbeat timeout reached, starting election":
				first(&noticed, ln.Time)
			case "election won":
				first(&won, ln.Time)
			case "leadership changed":
				if string(ln.Leader) == "true" && (elected == 0 || ln.Time.Sub(killAt) < elected) {
					elected, newLeader = ln.Time.Sub(killAt), n.nodeID()
				}
			}
		}
	}

	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	t.Logf("failed requests by kind: %s", l.errors())
	t.Logf("failover: first 202 after %.0f ms, first delivery after %.0f ms (election started after %.0f ms, won after %.0f ms, new leader %s ready after %.0f ms; %d acked, %d since the kill, %d requests failed, %d duplicates, %d leader elections since setup)",
		ms(firstAck), ms(firstDelivery), ms(noticed), ms(won), newLeader, ms(elected), len(acks), len(after), failed, r.duplicates(), c.elections(began))
	if firstAck > 30*time.Second || firstDelivery > 30*time.Second {
		t.Fatalf("failover took too long: first 202 after %v, first delivery after %v", firstAck, firstDelivery)
	}
	if out := os.Getenv("HERALD_FAILOVER_OUT"); out != "" {
		rec, _ := json.Marshal(map[string]any{
			"time":                      killAt.UTC().Format(time.RFC3339),
			"killed":                    leader.nodeID(),
			"new_leader":                newLeader,
			"kill_to_election_start_ms": ms(noticed),
			"kill_to_election_won_ms":   ms(won),
			"kill_to_leader_ms":         ms(elected),
			"kill_to_first_202_ms":      ms(firstAck),
			"kill_to_first_delivery_ms": ms(firstDelivery),
			"acked":                     len(acks),
			"acked_after_kill":          len(after),
			"failed_requests":           failed,
			"duplicates":                r.duplicates(),
			"heartbeat_timeout":         heartbeatTimeout.String(),
			"election_timeout":          electionTimeout.String(),
			"leader_lease_timeout":      leaseTimeout.String(),
			"load_workers":              8,
			"elections":                 c.elections(began),
		})
		f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Write(append(rec, '\n'))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

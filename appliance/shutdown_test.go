package appliance_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/appliance"
)

// TestCloseBoundedWhenPeersStop: a leader whose two peers stop answering
// (they read nothing more from their Raft connections, as processes
// stopped with SIGSTOP) still returns from Close by Close's deadline,
// saying which shutdown steps it abandoned. Without the bound, Close waited
// for Raft's shutdown, which waits for its RPCs to the silent peers (up to
// the transport's 10 s timeout each, or for ever when the replication is
// wedged), and so did the process after SIGTERM.
func TestCloseBoundedWhenPeersStop(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.waitReady(3)
	peers := c.others(leader)
	for _, m := range peers {
		m.link.stall()
	}
	// Whatever happens, the peers answer again before the cluster is
	// stopped at the end of the test.
	t.Cleanup(func() {
		for _, m := range peers {
			m.link.resume()
		}
	})
	leader.mu.Lock()
	n := leader.cur
	leader.cur = nil
	leader.mu.Unlock()

	const bound = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	start := time.Now()
	errc := make(chan error, 1)
	go func() { errc <- n.Close(ctx) }()
	select {
	case err := <-errc:
		took := time.Since(start)
		t.Logf("Close returned after %v: %v", took.Round(time.Millisecond), err)
		if !errors.Is(err, appliance.ErrShutdownAbandoned) {
			t.Errorf("Close = %v, want ErrShutdownAbandoned (the peers cannot answer, so Raft's shutdown cannot be done in %v)", err, bound)
		}
		if took > bound+2*time.Second {
			t.Errorf("Close took %v, deadline %v", took, bound)
		}
		if leader.log.seen("shutdown abandoned: a step did not finish in time") == 0 {
			t.Errorf("no log line saying what the shutdown abandoned")
		}
	case <-time.After(bound + 10*time.Second):
		t.Errorf("Close did not return within %v of its %v deadline: it waits on peers that stopped answering", 10*time.Second, bound)
	}

	// Once the peers answer again, what was abandoned finishes.
	for _, m := range peers {
		m.link.resume()
	}
	select {
	case <-n.ShutdownDone():
	case <-time.After(60 * time.Second):
		t.Fatalf("the abandoned shutdown steps never finished")
	}
}

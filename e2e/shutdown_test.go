//go:build e2e

package e2e

import (
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSigtermExitsWhenPeersStopped: the leader of a three-node cluster
// whose two followers are stopped (SIGSTOP: their sockets stay open but
// nothing answers) exits within the shutdown bound after SIGTERM, the
// drain timeout (20 s by default) plus main.go's 15 s margin, and its log
// says either that the shutdown completed or what it abandoned.
func TestSigtermExitsWhenPeersStopped(t *testing.T) {
	c := startCluster(t, "info")
	leader := c.settle()
	peers := c.others(leader)
	for _, p := range peers {
		if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, p := range peers {
			if p.cmd != nil {
				_ = p.cmd.Process.Signal(syscall.SIGCONT)
			}
		}
	})

	const bound = 20*time.Second + 15*time.Second
	start := time.Now()
	err := leader.terminate(bound + 10*time.Second)
	took := time.Since(start)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("leader %s with stopped peers: %v after %v", leader.nodeID(), err, took.Round(time.Millisecond))
	}
	t.Logf("SIGTERM to exit: %v (exit status: %v)", took.Round(time.Millisecond), err)
	if took > bound+2*time.Second {
		t.Errorf("exit took %v, bound %v", took.Round(time.Millisecond), bound)
	}
	logs := leader.logs.String()
	if !strings.Contains(logs, "shutdown complete") && !strings.Contains(logs, "shutdown abandoned") {
		t.Errorf("the log says neither that the shutdown completed nor what it abandoned")
	}
}

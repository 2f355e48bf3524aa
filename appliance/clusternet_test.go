package appliance_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
)

// Raft network faults for the cluster tests: each node's Raft transport goes
// through a fault link the test can cut and heal.

// faultLink is one node's Raft network. It wraps every stream layer the
// node opens (one per start, so a cut outlives a restart) and can cut all
// of the node's Raft traffic in both directions: open connections are
// closed, dials are refused and accepted connections dropped until heal.
type faultLink struct {
	mu    sync.Mutex
	down  bool
	conns map[*linkConn]struct{}
	// stalled, while not nil, holds every read on the node's Raft
	// connections until it is closed: the node stops answering, as a
	// process stopped with SIGSTOP, while its connections stay open.
	stalled chan struct{}
}

var errLinkCut = errors.New("raft link cut by the test")

func newFaultLink() *faultLink { return &faultLink{conns: map[*linkConn]struct{}{}} }

// wrap is the node's appliance.Options.WrapRaftStream.
func (l *faultLink) wrap(s hraft.StreamLayer) hraft.StreamLayer {
	return &faultStream{StreamLayer: s, link: l}
}

// cut isolates the node's Raft traffic until heal.
func (l *faultLink) cut() {
	l.mu.Lock()
	l.down = true
	conns := l.conns
	l.conns = map[*linkConn]struct{}{}
	l.mu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
	}
}

// heal lets the node's Raft traffic through again.
func (l *faultLink) heal() {
	l.mu.Lock()
	l.down = false
	l.mu.Unlock()
}

// stall makes the node stop reading its Raft traffic until resume.
func (l *faultLink) stall() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stalled == nil {
		l.stalled = make(chan struct{})
	}
}

// resume lets the node read its Raft traffic again.
func (l *faultLink) resume() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stalled != nil {
		close(l.stalled)
		l.stalled = nil
	}
}

// waitStalled returns once the link is not stalled.
func (l *faultLink) waitStalled() {
	l.mu.Lock()
	stalled := l.stalled
	l.mu.Unlock()
	if stalled != nil {
		<-stalled
	}
}

func (l *faultLink) isCut() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down
}

// admit tracks c, or closes it when the link is cut.
func (l *faultLink) admit(c net.Conn) (net.Conn, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		_ = c.Close()
		return nil, false
	}
	lc := &linkConn{Conn: c, link: l}
	l.conns[lc] = struct{}{}
	return lc, true
}

// linkConn is a Raft connection the link can close.
type linkConn struct {
	net.Conn
	link *faultLink
}

// Read holds the data back while the link is stalled, also what a read
// already in progress when the stall began receives.
func (c *linkConn) Read(p []byte) (int, error) {
	c.link.waitStalled()
	n, err := c.Conn.Read(p)
	c.link.waitStalled()
	return n, err
}

func (c *linkConn) Close() error {
	c.link.mu.Lock()
	delete(c.link.conns, c)
	c.link.mu.Unlock()
	return c.Conn.Close()
}

// faultStream is the stream layer raft sees.
type faultStream struct {
	hraft.StreamLayer
	link *faultLink
}

func (s *faultStream) Dial(addr hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if s.link.isCut() {
		return nil, errLinkCut
	}
	c, err := s.StreamLayer.Dial(addr, timeout)
	if err != nil {
		return nil, err
	}
	if lc, ok := s.link.admit(c); ok {
		return lc, nil
	}
	return nil, errLinkCut
}

func (s *faultStream) Accept() (net.Conn, error) {
	for {
		c, err := s.StreamLayer.Accept()
		if err != nil {
			return nil, err
		}
		if lc, ok := s.link.admit(c); ok {
			return lc, nil
		}
	}
}

// reserveRaftAddr picks a free loopback port for a node's Raft transport,
// kept across the node's restarts. It is taken below the kernel's
// ephemeral range, so neither a listener on port 0 nor an outgoing
// connection can occupy it while the node is down.
func reserveRaftAddr(t testing.TB) string {
	t.Helper()
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				lo = v
			}
		}
	}
	if lo > 12000 {
		for range 200 {
			addr := fmt.Sprintf("127.0.0.1:%d", 10000+rand.IntN(lo-10000))
			if ln, err := net.Listen("tcp", addr); err == nil {
				_ = ln.Close()
				return addr
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

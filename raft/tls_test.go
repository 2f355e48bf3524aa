package raft

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/herald-webhooks/herald/certs"
	"github.com/herald-webhooks/herald/certs/certstest"
)

// tlsFor loads a certificate for name signed by ca, as a node trusting ca.
func tlsFor(t *testing.T, ca *certstest.CA, name string) *TLS {
	t.Helper()
	p := ca.Issue("", name)
	n, err := certs.Load(p.CertFile, p.KeyFile, ca.File, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return &TLS{Server: n.PeerServer(), Client: n.PeerClient()}
}

// testTransport is a network transport on loopback over the given TLS
// setup (nil: plain TCP) that answers every AppendEntries with success.
func testTransport(t *testing.T, tc *TLS) *hraft.NetworkTransport {
	t.Helper()
	stream, err := listenTCP("127.0.0.1:0", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := hraft.NewNetworkTransportWithConfig(&hraft.NetworkTransportConfig{
		Stream: withTLS(stream, tc), MaxPool: 2, Timeout: 2 * time.Second,
		Logger: NewHCLogger(zerolog.New(io.Discard), "raft"),
	})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case rpc := <-tr.Consumer():
				rpc.Respond(&hraft.AppendEntriesResponse{Success: true}, nil)
			case <-stop:
				return
			}
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait(); _ = tr.Close() })
	return tr
}

func appendEntries(from, to *hraft.NetworkTransport) error {
	var resp hraft.AppendEntriesResponse
	return from.AppendEntries("server", to.LocalAddr(), &hraft.AppendEntriesRequest{
		RPCHeader: hraft.RPCHeader{ID: []byte("client"), Addr: []byte(from.LocalAddr())},
	}, &resp)
}

// TestTLSStream: nodes with certificates from the cluster's CA exchange
// Raft RPCs over TLS; a plain-TCP peer, a peer with a certificate from
// another CA and a peer that does not trust the cluster's CA get nothing
// through, either way.
func TestTLSStream(t *testing.T) {
	ca, other := certstest.NewCA(t, "cluster-ca"), certstest.NewCA(t, "other-ca")
	a, b := testTransport(t, tlsFor(t, ca, "a")), testTransport(t, tlsFor(t, ca, "b"))
	if err := appendEntries(a, b); err != nil {
		t.Fatalf("a to b over TLS: %v", err)
	}
	if err := appendEntries(b, a); err != nil {
		t.Fatalf("b to a over TLS: %v", err)
	}

	// Trusts the cluster's CA but presents a certificate from another.
	foreign := tlsFor(t, other, "foreign")
	foreign.Client.RootCAs = tlsFor(t, ca, "x").Client.RootCAs
	for name, tc := range map[string]*TLS{
		"plain TCP": nil,
		"other CA":  foreign,
		"distrusts": tlsFor(t, other, "stranger"),
	} {
		peer := testTransport(t, tc)
		if err := appendEntries(peer, a); err == nil {
			t.Errorf("%s peer reached a TLS node", name)
		}
		if err := appendEntries(a, peer); err == nil {
			t.Errorf("a TLS node reached a %s peer", name)
		}
	}
}

// TestTLSSilentClientIsDropped: a client that connects to the Raft port
// and never starts a handshake is disconnected after handshakeTimeout.
func TestTLSSilentClientIsDropped(t *testing.T) {
	old := handshakeTimeout.Swap(int64(300 * time.Millisecond))
	t.Cleanup(func() { handshakeTimeout.Store(old) })
	ca := certstest.NewCA(t, "cluster-ca")
	tr := testTransport(t, tlsFor(t, ca, "a"))
	c, err := net.Dial("tcp", string(tr.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	n, err := c.Read(make([]byte, 1))
	if err == nil || n != 0 {
		t.Fatalf("read %d bytes, %v: want the server to close the connection", n, err)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept a silent connection open for %v", time.Since(start))
	}
}

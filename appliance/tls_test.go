package appliance_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/rs/zerolog"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/herald-webhooks/herald/appliance"
	"github.com/herald-webhooks/herald/certs"
	"github.com/herald-webhooks/herald/certs/certstest"
	"github.com/herald-webhooks/herald/config"
)

// testPKI is a test CA and a certificate of its for each node id.
type testPKI struct {
	ca    *certstest.CA
	pool  *x509.CertPool
	pairs map[string]certstest.Pair
}

func newTestPKI(t *testing.T, ids ...string) *testPKI {
	t.Helper()
	p := &testPKI{ca: certstest.NewCA(t, "herald-test-ca"), pairs: map[string]certstest.Pair{}}
	var err error
	if p.pool, err = certs.LoadCAs(p.ca.File); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		p.pairs[id] = p.ca.Issue("", id)
	}
	return p
}

// mutual turns on TLS with the node's own certificate and the CA.
func (p *testPKI) mutual(cfg *config.Config) {
	pair := p.pairs[cfg.NodeID]
	cfg.TLS = config.TLSConfig{CertFile: pair.CertFile, KeyFile: pair.KeyFile, CAFile: p.ca.File}
}

// useHTTPS points the test's own client of n at its HTTPS API, trusting
// the test CA (and presenting no certificate, as the platform's clients).
func (p *testPKI) useHTTPS(t *testing.T, n *testNode) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}}
	t.Cleanup(tr.CloseIdleConnections)
	n.url = "https://" + n.HTTPAddr()
	n.hc = &http.Client{
		Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var err error
	if n.sdk, err = svix.New(testToken, &svix.SvixOptions{ServerUrl: mustURL(t, n.url), HTTPClient: n.hc}); err != nil {
		t.Fatal(err)
	}
}

// servedSerial is the serial number of the certificate n's API presents.
func (p *testPKI) servedSerial(n *testNode) (*big.Int, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", n.HTTPAddr(), &tls.Config{RootCAs: p.pool})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// TestClusterTLS: three nodes with certificates from one CA form a
// cluster over TLS (the API on HTTPS, Raft and every call between nodes
// on mutual TLS): they join, a write through a follower is forwarded to
// the leader, and every node reads it back. A node without TLS, or with a
// certificate from another CA, cannot join, nor get a Raft RPC through.
func TestClusterTLS(t *testing.T) {
	pki := newTestPKI(t, "node1", "node2", "node3")
	c := newCluster(t, 3, pki.mutual)
	for _, m := range c.members {
		pki.useHTTPS(t, m.node())
	}
	leader := c.waitReady(3)
	for _, m := range c.members {
		// Each node's status comes from the others over TLS.
		checkFor(t, 10*time.Second, 20*time.Millisecond, func() error { return c.checkView(m) })
	}

	follower := c.others(leader)[0]
	appID := createApp(t, follower.node(), "written over TLS")
	for _, m := range c.members {
		checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if r := m.node().do(http.MethodGet, "/api/v1/app/"+appID, nil); r.status != http.StatusOK {
				return fmt.Errorf("%s: GET the app: %d %s", m.id, r.status, r.body)
			}
			return nil
		})
	}
	if got := follower.log.seen("forward to leader failed"); got != 0 {
		t.Errorf("the follower logged %d failed forwards", got)
	}
	r := follower.node().do(http.MethodPost, "/api/v1/app?redirect=true", map[string]any{"name": "redirected"})
	if want := "https://" + leader.node().HTTPAddr() + "/api/v1/app?redirect=true"; r.status != http.StatusTemporaryRedirect || r.header.Get("Location") != want {
		t.Errorf("redirect: %d to %q, want 307 to %q", r.status, r.header.Get("Location"), want)
	}

	// The API speaks HTTPS only.
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + leader.node().HTTPAddr() + "/api/v1/health")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			t.Errorf("plain HTTP to the API answered %d", resp.StatusCode)
		}
	}

	other := certstest.NewCA(t, "other-ca")
	stranger := other.Issue("", "stranger")
	for _, tc := range []struct {
		name string
		tls  config.TLSConfig
	}{
		{"no TLS", config.TLSConfig{}},
		{"another CA", config.TLSConfig{CertFile: stranger.CertFile, KeyFile: stranger.KeyFile, CAFile: other.File}},
		{"trusts the CA, certificate from another", config.TLSConfig{CertFile: stranger.CertFile, KeyFile: stranger.KeyFile, CAFile: pki.ca.File}},
	} {
		t.Run("join/"+tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.NodeID, cfg.SecretsKey, cfg.TLS = "intruder", clusterSecretsKey, tc.tls
			cfg.Join = []string{leader.node().HTTPAddr()}
			cfg.Raft.JoinTimeout = config.Duration{Duration: 500 * time.Millisecond}
			cfg.Raft.JoinInterval = config.Duration{Duration: 100 * time.Millisecond}
			a, err := appliance.Open(cfg, appliance.Options{}, zerolog.New(io.Discard))
			if err == nil {
				_ = a.Close(context.Background())
				t.Fatal("the node joined")
			}
		})
	}
	// The admin token and the CA (which is public) are not enough to join
	// without a node certificate, through a follower or the leader.
	for _, via := range []*member{follower, leader} {
		r := via.node().do(http.MethodPost, "/api/v1/cluster/join", map[string]string{
			"nodeId": "intruder", "raftAddr": reserveRaftAddr(t), "httpAddr": "127.0.0.1:1", "keyId": "any",
		})
		if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "node_certificate_required") {
			t.Errorf("join without a node certificate through %s: %d %s", via.id, r.status, r.body)
		}
	}
	if members, err := leader.node().Node().Members(); err != nil || len(members) != 3 {
		t.Errorf("members after the intruders: %d (%v), want 3", len(members), err)
	}

	// Raft RPCs straight to the transport: a plain TCP peer and one with
	// another CA's certificate get no answer; a certificate of the
	// cluster's CA does (so the refusals are the TLS's doing).
	plain, err := hraft.NewTCPTransport("127.0.0.1:0", nil, 1, 2*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := heartbeat(plain, leader.raftAddr); err == nil {
		t.Error("a plain TCP peer got an answer from the Raft port")
	}
	insider := pki.ca.Issue("", "insider")
	for _, tc := range []struct {
		name string
		pair certstest.Pair
		ok   bool
	}{
		{"another CA", stranger, false},
		{"the cluster's CA", insider, true},
	} {
		kp, err := certs.LoadKeypair(tc.pair.CertFile, tc.pair.KeyFile, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		tr := tlsDialTransport(t, &tls.Config{RootCAs: pki.pool, GetClientCertificate: kp.GetClientCertificate})
		if err := heartbeat(tr, leader.raftAddr); (err == nil) != tc.ok {
			t.Errorf("Raft RPC with a certificate from %s: %v", tc.name, err)
		}
	}
}

// heartbeat sends a stale AppendEntries (term 0, which any node refuses
// harmlessly) to the Raft transport at addr.
func heartbeat(tr hraft.Transport, addr string) error {
	var resp hraft.AppendEntriesResponse
	return tr.AppendEntries("peer", hraft.ServerAddress(addr), &hraft.AppendEntriesRequest{
		RPCHeader: hraft.RPCHeader{ProtocolVersion: hraft.ProtocolVersionMax, ID: []byte("prober"), Addr: []byte(tr.LocalAddr())},
	}, &resp)
}

// dialStream is a client-only Raft stream layer over TLS.
type dialStream struct {
	net.Listener
	cfg *tls.Config
}

func (s dialStream) Dial(addr hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return (&tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: s.cfg}).Dial("tcp", string(addr))
}

func (s dialStream) Addr() net.Addr { return s.Listener.Addr() }

func tlsDialTransport(t *testing.T, cfg *tls.Config) *hraft.NetworkTransport {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := hraft.NewNetworkTransport(dialStream{Listener: ln, cfg: cfg}, 1, 2*time.Second, io.Discard)
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// TestTLSReload: a node's API serves a replaced certificate after
// ReloadTLS (SIGHUP) and, without a signal, once a handshake finds the
// files changed; a bad replacement leaves the old certificate serving.
func TestTLSReload(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	first := pki.ca.Issue(dir, "test-node")
	n := startNode(t, func(cfg *config.Config) {
		cfg.TLS = config.TLSConfig{CertFile: first.CertFile, KeyFile: first.KeyFile, CAFile: pki.ca.File}
	})
	pki.useHTTPS(t, n)
	if r := n.do(http.MethodGet, "/api/v1/app", nil); r.status != http.StatusOK {
		t.Fatalf("GET over HTTPS: %d %s", r.status, r.body)
	}
	serves := func(want *big.Int) func() error {
		return func() error {
			got, err := pki.servedSerial(n)
			if err != nil {
				return err
			}
			if got.Cmp(want) != 0 {
				return fmt.Errorf("serves certificate %x, want %x", got, want)
			}
			return nil
		}
	}
	checkFor(t, 5*time.Second, 20*time.Millisecond, serves(first.Serial))

	second := pki.ca.Issue(dir, "test-node")
	if err := n.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if err := serves(second.Serial)(); err != nil {
		t.Fatalf("after ReloadTLS: %v", err)
	}

	third := pki.ca.Issue(dir, "test-node")
	checkFor(t, 10*time.Second, 20*time.Millisecond, serves(third.Serial))

	// A certificate that does not match the key: refused, old one kept.
	stray := pki.ca.Issue("", "test-node")
	data, err := os.ReadFile(stray.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(first.CertFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := n.ReloadTLS(); err == nil || !strings.Contains(err.Error(), "private key does not match") {
		t.Errorf("ReloadTLS of a mismatched pair: %v", err)
	}
	if err := serves(third.Serial)(); err != nil {
		t.Errorf("after a bad reload: %v", err)
	}
	if r := n.do(http.MethodGet, "/api/v1/app", nil); r.status != http.StatusOK {
		t.Errorf("GET after a bad reload: %d %s", r.status, r.body)
	}
}

// TestReloadTLSWithoutTLS: a node without TLS says so.
func TestReloadTLSWithoutTLS(t *testing.T) {
	n := startNode(t)
	if err := n.ReloadTLS(); err == nil {
		t.Error("ReloadTLS succeeded on a node without TLS")
	} else if errors.Is(err, os.ErrNotExist) {
		t.Errorf("unexpected error: %v", err)
	}
}

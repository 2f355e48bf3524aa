package certs_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/herald-webhooks/herald/internal/testutil"
	"math/big"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-webhooks/herald/certs"
	"github.com/herald-webhooks/herald/certs/certstest"
)

// logBuffer is a zerolog sink tests can read while a server logs to it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Count(b.buf.Bytes(), []byte(s))
}

// serve runs a TLS server with cfg on loopback until the test ends; each
// connection is closed once its handshake is done.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	})
	return ln.Addr().String()
}

// servedSerial is the serial number of the certificate addr presents.
func servedSerial(addr string, ca *certstest.CA) (*big.Int, error) {
	pool, err := certs.LoadCAs(ca.File)
	if err != nil {
		return nil, err
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// checkFor polls with a deadline (testutil.CheckFor).
var checkFor = testutil.CheckFor

func serves(addr string, ca *certstest.CA, want *big.Int) func() error {
	return func() error {
		got, err := servedSerial(addr, ca)
		if err != nil {
			return err
		}
		if got.Cmp(want) != 0 {
			return fmt.Errorf("served certificate %x, want %x", got, want)
		}
		return nil
	}
}

// TestKeypairReloadsChangedFiles: replacing the files makes the next
// handshakes serve the new certificate, without a signal; a bad
// replacement keeps the old one, logged once.
func TestKeypairReloadsChangedFiles(t *testing.T) {
	ca := certstest.NewCA(t, "test-ca")
	dir := t.TempDir()
	first := ca.Issue(dir, "node1")
	logs := &logBuffer{}
	kp, err := certs.LoadKeypair(first.CertFile, first.KeyFile, zerolog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, &tls.Config{GetCertificate: kp.GetCertificate})
	checkFor(t, 5*time.Second, 20*time.Millisecond, serves(addr, ca, first.Serial))

	second := ca.Issue(dir, "node1") // same file names, new certificate
	checkFor(t, 10*time.Second, 20*time.Millisecond, serves(addr, ca, second.Serial))

	// A certificate whose key is not in the key file: refused, and the
	// second pair keeps being served.
	third := ca.Issue(t.TempDir(), "node1")
	data, err := os.ReadFile(third.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(first.CertFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		_, _ = servedSerial(addr, ca) // a handshake looks at the files
		if logs.count("TLS certificate reload failed") == 0 {
			return errors.New("no reload error logged yet")
		}
		return nil
	})
	for range 3 {
		if err := serves(addr, ca, second.Serial)(); err != nil {
			t.Fatalf("after a bad replacement: %v", err)
		}
	}
	if err := kp.Reload(); err == nil {
		t.Error("Reload of a mismatched pair succeeded")
	}
	if n := logs.count("TLS certificate reload failed"); n != 1 {
		t.Errorf("the same bad files were logged %d times, want once", n)
	}
}

// TestKeypairReload: Reload (what SIGHUP calls) picks up new files at
// once, even when their modification time and size look unchanged.
func TestKeypairReload(t *testing.T) {
	ca := certstest.NewCA(t, "test-ca")
	dir := t.TempDir()
	first := ca.Issue(dir, "node1")
	kp, err := certs.LoadKeypair(first.CertFile, first.KeyFile, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(first.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	ki, err := os.Stat(first.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	second := ca.Issue(dir, "node1")
	// Put the old times back: only an explicit reload can notice.
	if err := os.Chtimes(second.CertFile, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(second.KeyFile, ki.ModTime(), ki.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := kp.Reload(); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, &tls.Config{GetCertificate: kp.GetCertificate})
	if err := serves(addr, ca, second.Serial)(); err != nil {
		t.Fatal(err)
	}
}

// TestLoadErrors: missing, mismatched and empty files fail with errors
// that name them.
func TestLoadErrors(t *testing.T) {
	ca := certstest.NewCA(t, "test-ca")
	a, b := ca.Issue("", "a"), ca.Issue("", "b")
	empty := t.TempDir() + "/empty.pem"
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, cert, key, ca, want string
	}{
		{"missing cert", "/nonexistent/cert.pem", a.KeyFile, "", "/nonexistent/cert.pem"},
		{"missing key", a.CertFile, "/nonexistent/key.pem", "", "/nonexistent/key.pem"},
		{"mismatched", a.CertFile, b.KeyFile, "", b.KeyFile},
		{"missing ca", a.CertFile, a.KeyFile, "/nonexistent/ca.pem", "/nonexistent/ca.pem"},
		{"empty ca", a.CertFile, a.KeyFile, empty, "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := certs.Load(tc.cert, tc.key, tc.ca, zerolog.Nop())
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("Load: %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// TestMutualTLS: with a CA, the peer listener refuses clients without a
// certificate or with one from another CA; the API listener accepts a
// client without one but still refuses a foreign one.
func TestMutualTLS(t *testing.T) {
	ca, other := certstest.NewCA(t, "cluster-ca"), certstest.NewCA(t, "other-ca")
	load := func(ca *certstest.CA, name string) *certs.Node {
		p := ca.Issue("", name)
		n, err := certs.Load(p.CertFile, p.KeyFile, ca.File, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	server, friend, stranger := load(ca, "server"), load(ca, "friend"), load(other, "stranger")
	anonymous := &tls.Config{RootCAs: server.CAs}
	strangerCfg := stranger.PeerClient()
	strangerCfg.RootCAs = server.CAs // trusts the server; the server must not trust it

	for _, tc := range []struct {
		name   string
		server *tls.Config
		client *tls.Config
		ok     bool
	}{
		{"peer, node of the CA", server.PeerServer(), friend.PeerClient(), true},
		{"peer, no certificate", server.PeerServer(), anonymous, false},
		{"peer, other CA", server.PeerServer(), strangerCfg, false},
		{"peer, client of the other CA dials", server.PeerServer(), stranger.PeerClient(), false},
		{"api, node of the CA", server.API(), friend.PeerClient(), true},
		{"api, no certificate", server.API(), anonymous, true},
		{"api, other CA", server.API(), strangerCfg, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := tls.Listen("tcp", "127.0.0.1:0", tc.server)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			errc := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					errc <- err
					return
				}
				defer c.Close()
				errc <- c.(*tls.Conn).Handshake()
			}()
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), tc.client)
			if err == nil {
				// A TLS 1.3 client learns of a refused certificate only
				// on its first read, after the server decided.
				_, _ = c.Read(make([]byte, 1))
				c.Close()
			}
			serr := <-errc
			if tc.ok && (err != nil || serr != nil) {
				t.Fatalf("refused: client %v, server %v", err, serr)
			}
			if !tc.ok && serr == nil {
				t.Fatalf("server accepted the handshake (client: %v)", err)
			}
		})
	}
}

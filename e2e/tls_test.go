//go:build e2e

package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/certs/certstest"
)

// TestTLSReloadOnSIGHUP: the binary serves HTTPS with the certificate from
// its flags; after the files are replaced (with no handshake in between,
// so only the signal can make it look), SIGHUP makes it serve the new
// one; a bad pair and SIGHUP leave the node up, serving the last good one.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	ca := certstest.NewCA(t, "e2e-ca")
	dir := t.TempDir()
	first := ca.Issue(dir, "node")
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)

	httpAddr := freeAddr(t)
	logs := &lockedBuffer{}
	cmd := exec.Command(heraldBin, "serve", "--data-dir", t.TempDir(), "--http-addr", httpAddr,
		"--raft-addr", freeAddr(t), "--node-id", "e2e-tls",
		"--tls-cert-file", first.CertFile, "--tls-key-file", first.KeyFile, "--tls-ca-file", ca.File)
	cmd.Env = append(os.Environ(), "HERALD_ADMIN_TOKEN="+adminToken)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed once the process is gone, with waitErr set.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("herald logs:\n%s", logs)
		}
	})
	alive := func() {
		t.Helper()
		select {
		case <-exited:
			t.Fatalf("herald exited: %v", waitErr)
		default:
		}
	}
	serves := func(want *big.Int) func() error {
		return func() error {
			alive()
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", httpAddr, &tls.Config{RootCAs: pool})
			if err != nil {
				return err
			}
			defer c.Close()
			if got := c.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(want) != 0 {
				return fmt.Errorf("serves certificate %x, want %x", got, want)
			}
			return nil
		}
	}
	logged := func(msg string) func() error {
		return func() error {
			alive()
			if !strings.Contains(logs.String(), msg) {
				return fmt.Errorf("no %q in the log yet", msg)
			}
			return nil
		}
	}
	checkFor(t, 30*time.Second, 50*time.Millisecond, serves(first.Serial))

	second := ca.Issue(dir, "node")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, 20*time.Millisecond, logged(`"message":"TLS certificate reloaded"`))
	if err := serves(second.Serial)(); err != nil {
		t.Fatalf("after SIGHUP: %v", err)
	}

	stray := ca.Issue(t.TempDir(), "node")
	data, err := os.ReadFile(stray.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(first.CertFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, 20*time.Millisecond, logged(`"message":"TLS reload on SIGHUP failed: keeping the certificate in use"`))
	if err := serves(second.Serial)(); err != nil {
		t.Fatalf("after a bad pair and SIGHUP: %v", err)
	}
}

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"
	"github.com/svix/svix-webhooks/go/models"
)

// byteCounter is a raw TCP listener that counts every connection and byte
// that reaches it: the proof that nothing was sent.
type byteCounter struct {
	ln           net.Listener
	conns, bytes atomic.Int64
}

func newByteCounter(t *testing.T) *byteCounter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bc := &byteCounter{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			bc.conns.Add(1)
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					bc.bytes.Add(int64(n))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return bc
}

// rebindingHosts returns a command prefix that runs herald with its own
// /etc/hosts (a private mount namespace, the test's own) in which
// loopback.herald.test resolves to 127.0.0.1, the path of that file (the
// test rewrites it in place to rebind a name), and the names to use.
func rebindingHosts(t *testing.T) (wrap []string, hosts, rebind, loopback string) {
	rebind, loopback = "rebind.herald.test", "loopback.herald.test"
	hosts = filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost\n127.0.0.1 "+loopback+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `mount --bind "$0" /etc/hosts && exec "$@"`
	probe := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, hosts, "getent", "hosts", loopback)
	if out, err := probe.CombinedOutput(); err != nil || !strings.Contains(string(out), "127.0.0.1") {
		t.Skipf("cannot give herald its own /etc/hosts (unshare -m needs root): %v %s", err, out)
	}
	return []string{"unshare", "-m", "--propagation", "private", "sh", "-c", script, hosts}, hosts, rebind, loopback
}

// TestNoByteReachesLoopback: with no allowlist, loopback endpoints are
// refused when created, in every spelling and by a name that resolves to
// loopback, and a hostname that resolves to loopback only at delivery time
// (DNS rebinding) is refused on the dial: not one connection reaches the
// loopback receiver.
func TestNoByteReachesLoopback(t *testing.T) {
	wrap, hosts, rebind, loopback := rebindingHosts(t)
	bc := newByteCounter(t)
	port := bc.ln.Addr().(*net.TCPAddr).Port

	// Go's resolver rereads /etc/hosts at most every 5 s: the later
	// retries come after it has seen the rebinding.
	n := newNode(t, "--retry-schedule", "200ms,200ms,3s,3s")
	n.noAllowlist, n.wrap = true, wrap
	n.start()
	c := n.client()
	ctx := context.Background()
	app, err := c.Application.Create(ctx, models.ApplicationIn{Name: "ssrf"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "localhost", "127.1", "2130706433", "0x7f000001", "0177.0.0.1",
		"[::1]", "[::ffff:127.0.0.1]", "localhost.", "user@127.0.0.1", "0.0.0.0", loopback} {
		url := fmt.Sprintf("http://%s:%d/hook", host, port)
		_, err := c.Endpoint.Create(ctx, app.Id, models.EndpointIn{Url: url}, nil)
		se, ok := err.(*svix.Error)
		if !ok || se.Status() != 422 {
			t.Errorf("endpoint %s: %v, want 422", url, err)
		}
	}

	// The name does not resolve when the endpoint is created (accepted:
	// checked again at every dial), then comes to resolve to loopback.
	url := fmt.Sprintf("http://%s:%d/hook", rebind, port)
	ep, err := c.Endpoint.Create(ctx, app.Id, models.EndpointIn{Url: url}, nil)
	if err != nil {
		t.Fatalf("endpoint on a hostname that does not resolve yet: %v", err)
	}
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost\n127.0.0.1 "+loopback+"\n127.0.0.1 "+rebind+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	msg, err := c.Message.Create(ctx, app.Id, models.MessageIn{EventType: "job.completed", Payload: map[string]any{"x": 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until every attempt has been made and refused.
	checkFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		list, err := c.MessageAttempt.ListByMsg(ctx, app.Id, msg.Id, nil)
		if err != nil {
			return err
		}
		if len(list.Data) < 5 {
			return fmt.Errorf("%d attempts so far", len(list.Data))
		}
		for _, a := range list.Data {
			if a.ResponseStatusCode != 0 || a.EndpointId != ep.Id {
				return fmt.Errorf("attempt got a response: %+v", a)
			}
		}
		return nil
	})
	if got := bc.conns.Load(); got != 0 {
		t.Fatalf("%d connections (%d bytes) reached the loopback receiver", got, bc.bytes.Load())
	}
	// The attempt log says why (Herald's "error" field on attempts).
	req, _ := http.NewRequest("GET", "http://"+n.httpAddr+"/api/v1/app/"+app.Id+"/attempt/msg/"+msg.Id, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "loopback") {
		t.Fatalf("attempt log does not say the address was refused: %s", body)
	}
}

//go:build e2e

// Package e2e tests the real herald binary: built once, started as a child
// process on loopback ports chosen at run time, killed with SIGKILL or
// stopped with SIGTERM, and driven with the official Svix Go SDK against a
// local receiver that verifies every signature with the Standard Webhooks
// reference library and the Svix SDK.
package e2e

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/herald-webhooks/herald/internal/testutil"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	svix "github.com/svix/svix-webhooks/go"
)

const adminToken = "e2e-admin-token"

var heraldBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "herald-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	heraldBin = filepath.Join(dir, "herald")
	build := exec.Command("go", "build", "-o", heraldBin, "github.com/herald-webhooks/herald")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build herald: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// checkFor polls with a deadline (testutil.CheckFor).
var checkFor = testutil.CheckFor

// freeAddr reserves a loopback port by binding and releasing it.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// node is one herald process; its addresses survive restarts so the data
// directory's Raft configuration stays valid.
type node struct {
	t        *testing.T
	id       string // --node-id; "e2e-node" when empty
	dataDir  string
	httpAddr string
	raftAddr string
	args     []string
	// noAllowlist starts the node without --allow-private-cidr, so the
	// SSRF guard refuses loopback; wrap prefixes the command (unshare...).
	noAllowlist bool
	wrap        []string
	// generatedToken starts the node without HERALD_ADMIN_TOKEN, as the
	// README's quick start does: the token it prints on first start is
	// read from its output into token.
	generatedToken bool
	token          string
	cmd            *exec.Cmd
	logs           *lockedBuffer
	exited         chan error
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newNode(t *testing.T, extra ...string) *node {
	n := &node{t: t, dataDir: t.TempDir(), httpAddr: freeAddr(t), raftAddr: freeAddr(t), args: extra}
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("herald %s logs:\n%s", n.nodeID(), n.logReport())
		}
	})
	return n
}

// start runs the binary and waits until it accepts writes.
func (n *node) start() {
	t := n.t
	t.Helper()
	args := []string{"serve",
		"--data-dir", n.dataDir, "--http-addr", n.httpAddr, "--raft-addr", n.raftAddr, "--node-id", n.nodeID()}
	if !n.noAllowlist {
		args = append(args, "--allow-private-cidr", "127.0.0.0/8")
	}
	args = append(args, n.args...)
	argv := append(append(append([]string{}, n.wrap...), heraldBin), args...)
	n.cmd = exec.Command(argv[0], argv[1:]...)
	n.cmd.Env = append(os.Environ(), "HERALD_ADMIN_TOKEN="+adminToken)
	if n.generatedToken {
		n.cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "HERALD_ADMIN_TOKEN=") })
	}
	if n.logs == nil {
		n.logs = &lockedBuffer{}
	}
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.exited = make(chan error, 1)
	go func(cmd *exec.Cmd, ch chan error) { ch <- cmd.Wait() }(n.cmd, n.exited)
	client := n.client()
	checkFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		select {
		case err := <-n.exited:
			t.Fatalf("herald exited during start: %v\n%s", err, n.logs)
		default:
		}
		if n.generatedToken && n.token == "" {
			if n.token = generatedTokenRe.FindString(n.logs.String()); n.token == "" {
				return errors.New("no admin token printed yet")
			}
			client = n.client()
		}
		// Ready means a write commits: the node is leader and applying.
		_, err := client.EventType.Update(context.Background(), "e2e.ready", withDescription("readiness probe"))
		return err
	})
}

func (n *node) nodeID() string {
	if n.id == "" {
		return "e2e-node"
	}
	return n.id
}

// logReport is the node's log for a failure report: the debug lines of
// every delivery ("attempt made") and Badger write are counted rather than
// shown, and only the last lines are kept.
func (n *node) logReport() string {
	if n.logs == nil {
		return "(never started)"
	}
	const keep = 400
	var lines []string
	omitted := 0
	for _, l := range strings.Split(n.logs.String(), "\n") {
		if strings.Contains(l, `"level":"debug"`) &&
			(strings.Contains(l, `"message":"attempt made"`) || strings.Contains(l, `"message":"badger"`)) {
			omitted++
			continue
		}
		lines = append(lines, l)
	}
	head := ""
	if len(lines) > keep {
		head = fmt.Sprintf("(%d earlier lines omitted)\n", len(lines)-keep)
		lines = lines[len(lines)-keep:]
	}
	if omitted > 0 {
		head += fmt.Sprintf("(%d debug lines of attempts and Badger writes omitted)\n", omitted)
	}
	return head + strings.Join(lines, "\n")
}

// kill sends SIGKILL and waits for the process to be gone.
func (n *node) kill() {
	if n.cmd == nil || n.cmd.ProcessState != nil {
		return
	}
	_ = n.cmd.Process.Kill()
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		n.t.Errorf("herald did not die after SIGKILL")
	}
	n.cmd = nil
}

// terminate sends SIGTERM and returns the exit error.
func (n *node) terminate(timeout time.Duration) error {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-n.exited:
		n.cmd = nil
		return err
	case <-time.After(timeout):
		return errors.New("herald did not exit after SIGTERM")
	}
}

func (n *node) baseURL() *url.URL { return &url.URL{Scheme: "http", Host: n.httpAddr} }

// generatedTokenRe matches the admin token a node prints on first start.
var generatedTokenRe = regexp.MustCompile(`hrld_[A-Za-z0-9_-]{43}`)

func (n *node) client() *svix.Svix {
	token := adminToken
	if n.generatedToken {
		token = cmp.Or(n.token, "not-printed-yet")
	}
	c, err := svix.New(token, &svix.SvixOptions{ServerUrl: n.baseURL()})
	if err != nil {
		n.t.Fatal(err)
	}
	return c
}

// receiver is a local webhook endpoint that verifies every request with the
// Standard Webhooks reference library and the Svix SDK before counting it.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	secret   string
	status   int
	delay    time.Duration
	got      map[string]int       // webhook-id -> verified deliveries
	firstAt  map[string]time.Time // webhook-id -> arrival of its first verified delivery
	bad      []string             // verification failures
	inFlight int
	started  int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: http.StatusOK, got: map[string]int{}, firstAt: map[string]time.Time{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.handle))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	arrived := time.Now()
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	secret, status, delay := r.secret, r.status, r.delay
	r.started++
	r.inFlight++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight--
		r.mu.Unlock()
	}()
	if delay > 0 {
		time.Sleep(delay)
	}
	id := req.Header.Get("webhook-id")
	if status/100 == 2 {
		err := verify(secret, body, req.Header)
		r.mu.Lock()
		if err != nil {
			r.bad = append(r.bad, fmt.Sprintf("%s: %v", id, err))
		} else {
			if r.got[id] == 0 {
				r.firstAt[id] = arrived
			}
			r.got[id]++
		}
		r.mu.Unlock()
	}
	w.WriteHeader(status)
}

func verify(secret string, body []byte, h http.Header) error {
	sw, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	if err := sw.Verify(body, h); err != nil {
		return fmt.Errorf("standard webhooks: %w", err)
	}
	sv, err := svix.NewWebhook(secret)
	if err != nil {
		return err
	}
	if err := sv.Verify(body, h); err != nil {
		return fmt.Errorf("svix: %w", err)
	}
	return nil
}

func (r *receiver) set(status int, delay time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.delay = status, delay
}

// missing returns the ids in want the receiver has not verified yet.
func (r *receiver) missing(want []string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, id := range want {
		if r.got[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

func (r *receiver) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bad...)
}

func (r *receiver) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.got {
		n += c - 1
	}
	return n
}

func joinIDs(ids []string) string {
	if len(ids) > 5 {
		return strings.Join(ids[:5], ",") + fmt.Sprintf(" (+%d more)", len(ids)-5)
	}
	return strings.Join(ids, ",")
}

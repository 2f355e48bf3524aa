package appliance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/herald-webhooks/herald/internal/testutil"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/herald-webhooks/herald/appliance"
	"github.com/herald-webhooks/herald/config"
	"github.com/herald-webhooks/herald/storage"
)

// testToken is the admin token every test node is configured with.
const testToken = "test-admin-token"

// testNode is one in-process Herald node with an SDK client pointed at it.
type testNode struct {
	*appliance.Appliance
	t   testing.TB
	cfg config.Config
	url string // http://host:port, no trailing slash
	sdk *svix.Svix
	hc  *http.Client
}

// testConfig is a one-node configuration with short timings that lets the
// node deliver to receivers on 127.0.0.1.
func testConfig(t testing.TB) config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.NodeID = "test-node"
	cfg.AdminToken = testToken
	cfg.AllowPrivateCIDR = []string{"127.0.0.0/8"}
	cfg.Log.Level = "warn"
	// Many nodes share one test process: a per-node memory limit would
	// apply to all of them together and make the GC thrash.
	cfg.MemoryLimit = 0
	// No 64 MiB spare file for each of the many test nodes (storage's
	// tests and the e2e tier's full-disk test cover it).
	cfg.Storage.SpareMiB = 0
	cfg.Raft.HeartbeatTimeout = config.Duration{Duration: 200 * time.Millisecond}
	cfg.Raft.ElectionTimeout = config.Duration{Duration: 200 * time.Millisecond}
	cfg.Raft.LeaderLeaseTimeout = config.Duration{Duration: 100 * time.Millisecond}
	cfg.Raft.CommitTimeout = config.Duration{Duration: 5 * time.Millisecond}
	cfg.Raft.ApplyTimeout = config.Duration{Duration: 5 * time.Second}
	cfg.Delivery.RetrySchedule = []config.Duration{{Duration: 100 * time.Millisecond}, {Duration: 200 * time.Millisecond}}
	cfg.Delivery.RetryJitter = 0
	cfg.Delivery.RequestTimeout = config.Duration{Duration: 5 * time.Second}
	cfg.Delivery.DrainTimeout = config.Duration{Duration: time.Second}
	cfg.API.MaxPayloadBytes = 64 << 10
	cfg.API.MaxRequestBodyBytes = 96 << 10
	return cfg
}

// startNode opens a node from testConfig, adjusted by the mutators, waits
// for it to lead its one-node cluster and closes it when the test ends.
func startNode(t testing.TB, mutate ...func(*config.Config)) *testNode {
	t.Helper()
	return startNodeWith(t, appliance.Options{}, mutate...)
}

// startNodeWith is startNode with options (a clock of the test's own).
func startNodeWith(t testing.TB, opts appliance.Options, mutate ...func(*config.Config)) *testNode {
	t.Helper()
	cfg := testConfig(t)
	for _, m := range mutate {
		m(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	lw := &testLogWriter{t: t}
	// Registered first so it runs last: nothing logs through t once the
	// node is closed and the test is over.
	t.Cleanup(lw.stop)
	level, err := zerolog.ParseLevel(cfg.Log.Level)
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(lw).Level(level).With().Timestamp().Logger()

	a, err := appliance.Open(cfg, opts, log)
	if err != nil {
		t.Fatalf("open node: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("close node: %v", err)
		}
	})
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !a.Node().IsLeader() {
			return errors.New("node is not the leader yet")
		}
		// The node records its API address in the registry on its own;
		// tests that compare applied indexes must start after that write.
		var nodes []storage.Node
		if err := a.Store().View(func(r *storage.Reader) (err error) { nodes, err = r.Nodes(); return err }); err != nil {
			return err
		}
		for _, nd := range nodes {
			if nd.ID == cfg.NodeID {
				return nil
			}
		}
		return errors.New("node not in the registry yet")
	})

	n := &testNode{Appliance: a, t: t, cfg: cfg, url: "http://" + a.HTTPAddr()}
	u, err := url.Parse(n.url)
	if err != nil {
		t.Fatal(err)
	}
	if n.sdk, err = svix.New(testToken, &svix.SvixOptions{ServerUrl: u}); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	n.hc = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return n
}

// testLogWriter sends the node's logs to the test log until stopped.
type testLogWriter struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Logf("node: %s", bytes.TrimRight(p, "\n"))
	}
	return len(p), nil
}

func (w *testLogWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

// checkFor polls with a deadline (testutil.CheckFor).
var checkFor = testutil.CheckFor

// ctx is the context for SDK calls.
func ctx(t testing.TB) context.Context { return t.Context() }

// rawResponse is an API answer read with net/http.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into v, failing the test if it is not JSON.
func (r rawResponse) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response body is not the expected JSON (%v): %s", err, r.body)
	}
}

// do sends a request with the admin token. body may be nil, a []byte or
// string sent as is, or a value encoded as JSON.
func (n *testNode) do(method, path string, body any, header ...string) rawResponse {
	n.t.Helper()
	return n.doToken(testToken, method, path, body, header...)
}

// doToken is do with a chosen token ("" sends no Authorization header).
func (n *testNode) doToken(token, method, path string, body any, header ...string) rawResponse {
	n.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			n.t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequestWithContext(n.t.Context(), method, n.url+path, rd)
	if err != nil {
		n.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := n.hc.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		n.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: data}
}

// sdkStatus returns the HTTP status of an SDK error, failing the test if
// err is not an API error.
func sdkStatus(t testing.TB, err error) int {
	t.Helper()
	var se *svix.Error
	if !errors.As(err, &se) {
		t.Fatalf("want an SDK API error, got %T: %v", err, err)
	}
	return se.Status()
}

// stateCounts is how many of each entity the node's state holds.
type stateCounts struct {
	Apps, Endpoints, Messages, EventTypes, Attempts int
}

// counts reads stateCounts straight from the node's store.
func (n *testNode) counts() stateCounts {
	n.t.Helper()
	var c stateCounts
	all := storage.ListOptions{Limit: 10000}
	err := n.Store().View(func(r *storage.Reader) error {
		apps, err := r.ListApps(all)
		if err != nil {
			return err
		}
		c.Apps = len(apps.Items)
		for _, a := range apps.Items {
			eps, err := r.ListEndpoints(a.ID, all)
			if err != nil {
				return err
			}
			c.Endpoints += len(eps.Items)
			msgs, err := r.ListMessages(a.ID, storage.MessageFilter{}, all)
			if err != nil {
				return err
			}
			c.Messages += len(msgs.Items)
			for _, ep := range eps.Items {
				ats, err := r.ListAttemptsByEndpoint(a.ID, ep.ID, storage.AttemptFilter{}, all)
				if err != nil {
					return err
				}
				c.Attempts += len(ats.Items)
			}
		}
		types, err := r.ListEventTypes(all, true)
		c.EventTypes = len(types.Items)
		return err
	})
	if err != nil {
		n.t.Fatalf("count state: %v", err)
	}
	return c
}

// webhook is one request a receiver got.
type webhook struct {
	Header http.Header
	Body   []byte
	At     time.Time
}

// reply is how a receiver answers one request.
type reply struct {
	Status int
	Header map[string]string
	Body   string
	// Delay holds the answer back (a slow receiver); the wait ends early
	// when the sender gives up.
	Delay time.Duration
}

// receiver is a webhook endpoint on 127.0.0.1 that records every request
// and answers as its script says.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []webhook
	script func(n int) reply // n is the 1-based number of the request
}

// newReceiver starts a receiver answering the scripted replies in order,
// then 200 "ok" to everything after them.
func newReceiver(t testing.TB, replies ...reply) *receiver {
	t.Helper()
	return newScriptedReceiver(t, func(n int) reply {
		if n <= len(replies) {
			return replies[n-1]
		}
		return reply{Status: http.StatusOK, Body: "ok"}
	})
}

// newSwitchedReceiver starts a receiver that answers 503 while down is
// set (it starts set), and 200 otherwise.
func newSwitchedReceiver(t testing.TB) (*receiver, *atomic.Bool) {
	t.Helper()
	down := new(atomic.Bool)
	down.Store(true)
	return newScriptedReceiver(t, func(int) reply {
		if down.Load() {
			return reply{Status: http.StatusServiceUnavailable, Body: "down"}
		}
		return reply{Status: http.StatusOK, Body: "ok"}
	}), down
}

func newScriptedReceiver(t testing.TB, script func(n int) reply) *receiver {
	t.Helper()
	rc := &receiver{script: script}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.got = append(rc.got, webhook{Header: r.Header.Clone(), Body: body, At: time.Now()})
	n := len(rc.got)
	rc.mu.Unlock()
	rp := rc.script(n)
	if rp.Delay > 0 {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(rp.Delay):
		}
	}
	for k, v := range rp.Header {
		w.Header().Set(k, v)
	}
	if rp.Status == 0 {
		rp.Status = http.StatusOK
	}
	w.WriteHeader(rp.Status)
	_, _ = io.WriteString(w, rp.Body)
}

// URL is the receiver's address, with path appended.
func (rc *receiver) URL(path string) string { return rc.srv.URL + path }

// webhooks returns a copy of what the receiver got so far.
func (rc *receiver) webhooks() []webhook {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]webhook(nil), rc.got...)
}

// count returns how many requests the receiver got.
func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

// waitFor waits until the receiver has got at least n requests and
// returns them.
func (rc *receiver) waitFor(t testing.TB, n int) []webhook {
	t.Helper()
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if c := rc.count(); c < n {
			return fmt.Errorf("receiver got %d requests, want %d", c, n)
		}
		return nil
	})
	return rc.webhooks()
}

// verifyWebhook checks a delivery's signature with both the Standard
// Webhooks reference library and the Svix SDK's verifier.
func verifyWebhook(t testing.TB, secret string, wh webhook) {
	t.Helper()
	sw, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("standardwebhooks.NewWebhook: %v", err)
	}
	if err := sw.Verify(wh.Body, wh.Header); err != nil {
		t.Errorf("Standard Webhooks library rejects the delivery: %v (headers %v)", err, wh.Header)
	}
	sv, err := svix.NewWebhook(secret)
	if err != nil {
		t.Fatalf("svix.NewWebhook: %v", err)
	}
	if err := sv.Verify(wh.Body, wh.Header); err != nil {
		t.Errorf("Svix SDK verifier rejects the delivery: %v (headers %v)", err, wh.Header)
	}
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// mustURL parses a URL.
func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

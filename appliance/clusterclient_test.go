package appliance_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/storage"
)

// Clients of the test clusters: writes that ride out elections, load and
// bursts of messages, and checks of what was delivered and stored.

// post sends a write without failing the test, for load generators that
// run outside the test goroutine.
func post(hc *http.Client, url, path string, body []byte, header ...string) (rawResponse, error) {
	req, err := http.NewRequest(http.MethodPost, url+path, bytes.NewReader(body))
	if err != nil {
		return rawResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		return rawResponse{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: data}, err
}

// load sends messages to an app round-robin through a changing set of
// nodes and records the ids of those acknowledged with 202.
type load struct {
	mu     sync.Mutex
	acked  []string
	failed map[string]int // by status or error
	stop   chan struct{}
	halt   sync.Once
	done   chan struct{}
}

// startLoad starts sending; targets is asked for the nodes' API URLs before
// every request. Stop it with finish (it stops with the test otherwise).
func startLoad(t testing.TB, appID string, targets func() []string) *load {
	l := &load{failed: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() { l.finish() })
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{}}
	go func() {
		defer close(l.done)
		defer hc.CloseIdleConnections()
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			default:
			}
			urls := targets()
			if len(urls) == 0 {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			body := fmt.Sprintf(`{"eventType":"load.tick","payload":{"seq":%d}}`, i)
			r, err := post(hc, urls[i%len(urls)], "/api/v1/app/"+appID+"/msg", []byte(body))
			var out struct {
				ID string `json:"id"`
			}
			switch {
			case err != nil:
				l.fail("transport error")
			case r.status == http.StatusServiceUnavailable:
				l.fail("503")
			case r.status != http.StatusAccepted:
				l.fail(strconv.Itoa(r.status) + " " + string(r.body))
			case json.Unmarshal(r.body, &out) != nil || out.ID == "":
				l.fail("bad body")
			default:
				l.mu.Lock()
				l.acked = append(l.acked, out.ID)
				l.mu.Unlock()
				continue
			}
			// Pace retries while no leader takes writes.
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return l
}

func (l *load) fail(why string) {
	l.mu.Lock()
	l.failed[why]++
	l.mu.Unlock()
}

// ackedCount is how many messages were acknowledged so far.
func (l *load) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// waitAcked waits until n more messages than now are acknowledged.
func (l *load) waitAcked(t testing.TB, n int) {
	t.Helper()
	target := l.ackedCount() + n
	checkFor(t, 30*time.Second, 5*time.Millisecond, func() error {
		if got := l.ackedCount(); got < target {
			return fmt.Errorf("%d messages acknowledged, want %d", got, target)
		}
		return nil
	})
}

// finish stops the load and returns the acknowledged ids and the failures.
func (l *load) finish() ([]string, map[string]int) {
	l.halt.Do(func() { close(l.stop) })
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.acked...), l.failed
}

// waitDelivered waits until rc has received every message in ids, checks
// the signature of every request it got for them, and returns how many of
// those requests were duplicates.
func waitDelivered(t testing.TB, rc *receiver, secret string, ids []string) (duplicates int) {
	t.Helper()
	var byID map[string][]webhook
	checkFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		byID = map[string][]webhook{}
		for _, wh := range rc.webhooks() {
			id := wh.Header.Get("webhook-id")
			byID[id] = append(byID[id], wh)
		}
		var missing []string
		for _, id := range ids {
			if len(byID[id]) == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d of %d acknowledged messages not delivered, e.g. %s", len(missing), len(ids), missing[0])
		}
		return nil
	})
	for _, id := range ids {
		for _, wh := range byID[id] {
			verifyWebhook(t, secret, wh)
		}
		duplicates += len(byID[id]) - 1
	}
	return duplicates
}

// sendBurst sends n messages at once, eight at a time, through the
// reachable members, retrying refused ones with their idempotency key, and
// returns their ids. They are all due at deliverAt.
func sendBurst(t *testing.T, c *cluster, appID string, n int, deliverAt time.Time) []string {
	t.Helper()
	var urls []string
	for _, m := range c.reachable() {
		urls = append(urls, m.node().url)
	}
	ids := make([]string, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 20 * time.Second}
	defer hc.CloseIdleConnections()
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			key := fmt.Sprintf("burst-%d", writeSeq.Add(1))
			body := fmt.Sprintf(`{"eventType":"burst.tick","payload":{"seq":%d},"deliverAt":%q}`, i, deliverAt.Format(time.RFC3339Nano))
			deadline := time.Now().Add(30 * time.Second)
			for {
				r, err := post(hc, urls[i%len(urls)], "/api/v1/app/"+appID+"/msg", []byte(body), "Idempotency-Key", key)
				if err == nil && r.status == http.StatusAccepted {
					var out struct {
						ID string `json:"id"`
					}
					errs[i] = json.Unmarshal(r.body, &out)
					ids[i] = out.ID
					return
				}
				if err == nil && r.status != http.StatusServiceUnavailable || time.Now().After(deadline) {
					errs[i] = fmt.Errorf("burst message %d: %v %d %s", i, err, r.status, r.body)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return ids
}

// writeSeq numbers the idempotency keys of the tests' writes.
var writeSeq atomic.Int64

// write sends a write through n and returns the answer, retrying while no
// leader takes writes (503, as when an election runs under CPU load). POSTs
// carry a fresh idempotency key, so a retry of a write that did commit gets
// the first answer again instead of applying twice.
func write(t *testing.T, n *testNode, method, path string, body any) rawResponse {
	t.Helper()
	r, _ := writeKey(t, n, method, path, body, fmt.Sprintf("cluster-test-%d", writeSeq.Add(1)))
	return r
}

// writeKey is write with a chosen idempotency key; retried reports whether
// an earlier try was refused with 503.
func writeKey(t *testing.T, n *testNode, method, path string, body any, key string) (r rawResponse, retried bool) {
	t.Helper()
	checkFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		r = n.do(method, path, body, "Idempotency-Key", key)
		if r.status == http.StatusServiceUnavailable {
			retried = true
			return fmt.Errorf("%s %s: %d %s", method, path, r.status, r.body)
		}
		return nil
	})
	return r, retried
}

// createApp creates an application through n and returns its id.
func createApp(t *testing.T, n *testNode, name string) string {
	t.Helper()
	r := write(t, n, http.MethodPost, "/api/v1/app", map[string]any{"name": name})
	if r.status != http.StatusCreated {
		t.Fatalf("create app: %d %s", r.status, r.body)
	}
	id, _ := jsonObject(t, r.body)["id"].(string)
	return id
}

// createEndpoint creates an endpoint through n and returns its id and secret.
func createEndpoint(t *testing.T, n *testNode, appID, url string) (string, string) {
	t.Helper()
	r := write(t, n, http.MethodPost, "/api/v1/app/"+appID+"/endpoint", map[string]any{"url": url})
	if r.status != http.StatusCreated {
		t.Fatalf("create endpoint: %d %s", r.status, r.body)
	}
	id, _ := jsonObject(t, r.body)["id"].(string)
	var key string
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		r = n.do(http.MethodGet, "/api/v1/app/"+appID+"/endpoint/"+id+"/secret", nil)
		if r.status != http.StatusOK {
			return fmt.Errorf("endpoint secret: %d %s", r.status, r.body)
		}
		key, _ = jsonObject(t, r.body)["key"].(string)
		return nil
	})
	return id, key
}

// sendMessage sends message seq through n and returns its id.
func sendMessage(t *testing.T, n *testNode, appID string, seq int) string {
	t.Helper()
	r := write(t, n, http.MethodPost, "/api/v1/app/"+appID+"/msg", map[string]any{"eventType": "test.event", "payload": map[string]any{"seq": seq}})
	if r.status != http.StatusAccepted {
		t.Fatalf("send message: %d %s", r.status, r.body)
	}
	id, _ := jsonObject(t, r.body)["id"].(string)
	return id
}

// missingMessages returns the ids n's state does not hold.
func missingMessages(n *testNode, appID string, ids []string) []string {
	var missing []string
	_ = n.Store().View(func(r *storage.Reader) error {
		for _, id := range ids {
			if _, err := r.Message(appID, id); err != nil {
				missing = append(missing, id)
			}
		}
		return nil
	})
	return missing
}

// digest is the part of a node's state the snapshot test compares.
type digest struct {
	Apps     []string // id name
	Messages []string // app id, message id, event type, payload
}

func stateDigest(t *testing.T, n *testNode) digest {
	t.Helper()
	var d digest
	all := storage.ListOptions{Limit: 100000}
	err := n.Store().View(func(r *storage.Reader) error {
		apps, err := r.ListApps(all)
		if err != nil {
			return err
		}
		for _, a := range apps.Items {
			d.Apps = append(d.Apps, a.ID+" "+a.Name)
			msgs, err := r.ListMessages(a.ID, storage.MessageFilter{}, all)
			if err != nil {
				return err
			}
			for _, m := range msgs.Items {
				d.Messages = append(d.Messages, a.ID+" "+m.ID+" "+m.EventType+" "+string(m.Payload))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// jsonObject decodes a JSON object, failing the test otherwise.
func jsonObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object (%v): %s", err, b)
	}
	return m
}

// keys returns a map's keys, sorted.
func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

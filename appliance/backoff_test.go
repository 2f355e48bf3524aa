package appliance_test

import (
	"cmp"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/svix/svix-webhooks/go/models"

	"github.com/herald-webhooks/herald/config"
)

// concurrencyReceiver answers after a short delay, down (503, or another
// status) while down, and keeps the most requests it had open at once,
// per attempt number.
type concurrencyReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	up     bool
	down   int            // status while down; 0 = 503
	seen   map[string]int // webhook-id: requests so far
	open   map[int]int    // attempt number: requests open now
	most   map[int]int    // attempt number: most open at once
	handle time.Duration
}

func newConcurrencyReceiver(t *testing.T, down int, handle time.Duration) *concurrencyReceiver {
	rc := &concurrencyReceiver{seen: map[string]int{}, open: map[int]int{}, most: map[int]int{}, down: down, handle: handle}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		rc.seen[r.Header.Get("webhook-id")]++
		nth := rc.seen[r.Header.Get("webhook-id")]
		rc.open[nth]++
		rc.most[nth] = max(rc.most[nth], rc.open[nth])
		up, down := rc.up, rc.down
		rc.mu.Unlock()
		select {
		case <-time.After(rc.handle):
		case <-r.Context().Done():
		}
		rc.mu.Lock()
		rc.open[nth]--
		rc.mu.Unlock()
		if !up {
			w.WriteHeader(cmp.Or(down, http.StatusServiceUnavailable))
		}
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *concurrencyReceiver) mostOpen(nth int) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.most[nth]
}

// failedTwice sends n messages to an endpoint on rc, with one retry 2s
// after the first attempt and the next an hour away, and waits until each
// has had both attempts.
func failedTwice(t *testing.T, rc *concurrencyReceiver, n int) *deliveryFixture {
	t.Helper()
	node := startNode(t, func(c *config.Config) {
		// The retry waits long enough for every first attempt to have
		// failed, even on a loaded machine: the retries then all meet the
		// limit those failures left.
		c.Delivery.RetrySchedule = []config.Duration{{Duration: 2 * time.Second}, {Duration: time.Hour}}
	})
	f := newDeliveryFixture(t, node, nil, models.EndpointIn{Url: rc.srv.URL + "/webhook"})
	var ids []string
	for i := range n {
		ids = append(ids, f.send(t, "job.failed", map[string]any{"job": i}).Id)
	}
	for _, id := range ids {
		f.waitAttempts(t, id, 2)
	}
	return f
}

// TestFailingEndpointBackoff: an endpoint that fails gets fewer attempts
// in flight (each failure halves its limit, each success doubles it), so
// the retries of a receiver that is down go one at a time; once it answers
// again, its limit grows back.
func TestFailingEndpointBackoff(t *testing.T) {
	t.Parallel()
	rc := newConcurrencyReceiver(t, 0, 30*time.Millisecond)
	f := failedTwice(t, rc, 12)
	if got := rc.mostOpen(2); got != 1 {
		t.Errorf("retries to the failing endpoint: %d in flight at once, want 1", got)
	}
	rc.mu.Lock()
	rc.up = true
	rc.most = map[int]int{}
	rc.mu.Unlock()
	var up []string
	for i := range 24 {
		up = append(up, f.send(t, "job.completed", map[string]any{"job": i}).Id)
	}
	for _, id := range up {
		if d := f.waitFinal(t, id); d.Status != models.MESSAGESTATUS_SUCCESS {
			t.Errorf("message %s: status %d, want success", id, d.Status)
		}
	}
	if got := rc.mostOpen(1); got < 4 {
		t.Errorf("attempts once the endpoint answers: at most %d in flight at once, want the limit to grow back (4 or more)", got)
	}
}

// TestRejectionsDoNotBackOff: a receiver refusing messages (400) is not
// failing as an endpoint; its limit stays, and the retries go out together.
func TestRejectionsDoNotBackOff(t *testing.T) {
	t.Parallel()
	rc := newConcurrencyReceiver(t, http.StatusBadRequest, 100*time.Millisecond)
	failedTwice(t, rc, 12)
	if got := rc.mostOpen(2); got < 2 {
		t.Errorf("retries after 400s: at most %d in flight at once, want several (no backoff)", got)
	}
}

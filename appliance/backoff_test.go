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

func newConcurrencyReceiver(t *testing.T) *concurrencyReceiver {
	rc := &concurrencyReceiver{seen: map[string]int{}, open: map[int]int{}, most: map[int]int{}, handle: 30 * time.Millisecond}
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

// TestFailingEndpointBackoff: an endpoint that fails gets fewer attempts
// in flight (each failure halves its limit, each success doubles it), so
// the retries of a receiver that is down go one at a time; once it answers
// again, its limit grows back.
func TestFailingEndpointBackoff(t *testing.T) {
	t.Parallel()
	n := startNode(t, func(c *config.Config) {
		c.Delivery.RetrySchedule = []config.Duration{{Duration: 100 * time.Millisecond}, {Duration: time.Hour}}
	})
	rc := newConcurrencyReceiver(t)
	f := newDeliveryFixture(t, n, nil, models.EndpointIn{Url: rc.srv.URL + "/webhook"})
	var down []string
	for i := range 12 {
		down = append(down, f.send(t, "job.failed", map[string]any{"job": i}).Id)
	}
	for _, id := range down {
		f.waitAttempts(t, id, 2)
	}
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
	n := startNode(t, func(c *config.Config) {
		c.Delivery.RetrySchedule = []config.Duration{{Duration: 100 * time.Millisecond}, {Duration: time.Hour}}
	})
	rc := newConcurrencyReceiver(t)
	rc.down = http.StatusBadRequest
	rc.handle = 100 * time.Millisecond
	f := newDeliveryFixture(t, n, nil, models.EndpointIn{Url: rc.srv.URL + "/webhook"})
	var ids []string
	for i := range 12 {
		ids = append(ids, f.send(t, "job.failed", map[string]any{"job": i}).Id)
	}
	for _, id := range ids {
		f.waitAttempts(t, id, 2)
	}
	if got := rc.mostOpen(2); got < 2 {
		t.Errorf("retries after 400s: at most %d in flight at once, want several (no backoff)", got)
	}
}

package appliance_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/svix/svix-webhooks/go/models"

	"github.com/herald-webhooks/herald/config"
)

// switchReceiver answers 503 while down, and to the webhook ids in failing
// even when up.
type switchReceiver struct {
	*receiver
	mu      sync.Mutex
	up      bool
	failing map[string]bool
}

func newSwitchReceiver(t *testing.T) *switchReceiver {
	s := &switchReceiver{failing: map[string]bool{}}
	s.receiver = newScriptedReceiver(t, func(n int) reply {
		wh := s.webhooks()[n-1]
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.up || s.failing[wh.Header.Get("webhook-id")] {
			return reply{Status: http.StatusServiceUnavailable, Body: "down"}
		}
		return reply{Status: http.StatusOK, Body: "ok"}
	})
	return s
}

func (s *switchReceiver) set(up bool, failing ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.up = up
	for _, id := range failing {
		s.failing[id] = true
	}
}

// catchUpFixture builds a backlog of messages whose second attempt failed
// and whose last retry is an hour away, then a message whose first attempt
// failed: its retry, 100ms later, is the one that finds the receiver back.
func catchUpFixture(t *testing.T, backlog int, mutate func(*config.Config)) (*deliveryFixture, *switchReceiver, []string, string) {
	t.Helper()
	n := startNode(t, func(c *config.Config) {
		c.Delivery.RetrySchedule = []config.Duration{{Duration: 100 * time.Millisecond}, {Duration: time.Hour}}
		mutate(c)
	})
	rc := newSwitchReceiver(t)
	f := newDeliveryFixture(t, n, rc.receiver, models.EndpointIn{})
	var ids []string
	for i := range backlog {
		ids = append(ids, f.send(t, "job.completed", map[string]any{"job": i}).Id)
	}
	for _, id := range ids {
		f.waitAttempts(t, id, 2)
	}
	last := f.send(t, "job.completed", map[string]any{"job": "last"}).Id
	f.waitAttempts(t, last, 1)
	return f, rc, ids, last
}

// waitingHour checks that a delivery still waits for the retry an hour away.
func waitingHour(t *testing.T, f *deliveryFixture, id string) {
	t.Helper()
	d := f.destination(t, id)
	if d.NextAttempt == nil || time.Until(*d.NextAttempt) < 30*time.Minute {
		t.Errorf("message %s: next attempt %v, want the retry an hour away", id, d.NextAttempt)
	}
}

func TestCatchUpAfterRecovery(t *testing.T) {
	t.Parallel()
	f, rc, backlog, last := catchUpFixture(t, 12, func(*config.Config) {})
	rc.set(true)
	if d := f.waitFinal(t, last); d.Status != models.MESSAGESTATUS_SUCCESS {
		t.Fatalf("recovering message: status %d", d.Status)
	}
	// The backlog is sent now, not in an hour: each its third attempt,
	// scheduled, signed as usual.
	for _, id := range backlog {
		if d := f.waitFinal(t, id); d.Status != models.MESSAGESTATUS_SUCCESS {
			t.Errorf("message %s: status %d, want success", id, d.Status)
		}
		ats := f.attempts(t, id)
		if len(ats) != 3 || ats[2].Status != models.MESSAGESTATUS_SUCCESS || ats[2].TriggerType != models.MESSAGEATTEMPTTRIGGERTYPE_SCHEDULED {
			t.Errorf("message %s: %d attempts, want 2 failed and a scheduled success", id, len(ats))
		}
	}
	for _, wh := range rc.webhooks() {
		verifyWebhook(t, f.secret, wh)
	}
}

func TestCatchUpOff(t *testing.T) {
	t.Parallel()
	f, rc, backlog, last := catchUpFixture(t, 4, func(c *config.Config) { c.Delivery.CatchUpOnRecovery = false })
	rc.set(true)
	f.waitFinal(t, last)
	// A message sent after the recovery goes through the same scheduler:
	// once it is delivered, a catch-up would have started too.
	next := f.send(t, "job.completed", map[string]any{"job": "next"}).Id
	f.waitFinal(t, next)
	for _, id := range backlog {
		waitingHour(t, f, id)
	}
	if got, want := rc.count(), 2*len(backlog)+3; got != want {
		t.Errorf("receiver got %d requests, want %d", got, want)
	}
}

func TestCatchUpStopsOnFailure(t *testing.T) {
	t.Parallel()
	// The catch-up starts with one attempt in flight and widens only with
	// successes: with the backlog still failing, exactly one message is
	// sent ahead, the catch-up stops, and that early failure costs the
	// message nothing (its retry stays an hour away, not used up).
	f, rc, backlog, last := catchUpFixture(t, 6, func(*config.Config) {})
	rc.set(true, backlog...)
	f.waitFinal(t, last)
	var tried string
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		for _, id := range backlog {
			if ats := f.attempts(t, id); len(ats) == 3 {
				tried = id
				return nil
			}
		}
		return fmt.Errorf("no backlog message was sent ahead of its retry")
	})
	next := f.send(t, "job.completed", map[string]any{"job": "next"}).Id
	f.waitFinal(t, next)
	for _, id := range backlog {
		waitingHour(t, f, id)
	}
	if ats := f.attempts(t, tried); ats[2].Status != models.MESSAGESTATUS_FAIL {
		t.Errorf("the attempt sent ahead: status %d, want fail", ats[2].Status)
	}
	if got, want := rc.count(), 2*len(backlog)+3+1; got != want {
		t.Errorf("receiver got %d requests, want %d (one backlog message sent ahead, then the catch-up stopped)", got, want)
	}
}

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
// even when up. A gate, when set, answers first: it gets the webhook id and
// how many requests for it arrived so far, and returns a status (0 = go on).
type switchReceiver struct {
	*receiver
	mu      sync.Mutex
	up      bool
	failing map[string]bool
	gate    func(id string, nth int) int
}

func newSwitchReceiver(t *testing.T) *switchReceiver {
	s := &switchReceiver{failing: map[string]bool{}}
	s.receiver = newScriptedReceiver(t, func(n int) reply {
		got := s.webhooks()
		id := got[n-1].Header.Get("webhook-id")
		s.mu.Lock()
		gate := s.gate
		s.mu.Unlock()
		if gate != nil {
			nth := 0
			for _, wh := range got[:n] {
				if wh.Header.Get("webhook-id") == id {
					nth++
				}
			}
			if status := gate(id, nth); status != 0 {
				return reply{Status: status, Body: "gate"}
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.up || s.failing[id] {
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
// The receiver comes back as it answers that first attempt, however slow
// the machine, with the backlog still failing if backlogFails is set.
func catchUpFixture(t *testing.T, backlog int, backlogFails bool, mutate func(*config.Config)) (*deliveryFixture, *switchReceiver, []string, string) {
	t.Helper()
	f, rc, ids := catchUpBacklog(t, backlog, mutate)
	inBacklog := map[string]bool{}
	for _, id := range ids {
		inBacklog[id] = true
	}
	rc.mu.Lock()
	rc.gate = func(id string, nth int) int {
		if inBacklog[id] || nth != 1 {
			return 0
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.gate = nil // once: later messages find the receiver up
		rc.up = true
		if backlogFails {
			for _, b := range ids {
				rc.failing[b] = true
			}
		}
		return http.StatusServiceUnavailable
	}
	rc.mu.Unlock()
	last := f.send(t, "job.completed", map[string]any{"job": "last"}).Id
	f.waitAttempts(t, last, 1)
	return f, rc, ids, last
}

// catchUpBacklog builds the backlog of catchUpFixture alone.
func catchUpBacklog(t *testing.T, backlog int, mutate func(*config.Config)) (*deliveryFixture, *switchReceiver, []string) {
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
	return f, rc, ids
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
	f, rc, backlog, last := catchUpFixture(t, 12, false, func(*config.Config) {})
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
	f, rc, backlog, last := catchUpFixture(t, 4, false, func(c *config.Config) { c.Delivery.CatchUpOnRecovery = false })
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
	f, rc, backlog, last := catchUpFixture(t, 6, true, func(*config.Config) {})
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

// TestCatchUpOutlivesEarlierFailures: attempts in flight when the receiver
// came back may still fail after the first success; they do not stop the
// catch-up, only a failure of an attempt started since it began does.
func TestCatchUpOutlivesEarlierFailures(t *testing.T) {
	t.Parallel()
	f, rc, backlog := catchUpBacklog(t, 6, func(*config.Config) {})
	wait := func(ch chan struct{}) {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
		}
	}
	var (
		mu                   sync.Mutex
		last, held, second   string
		heldRetry, sentAhead = make(chan struct{}), make(chan struct{})
		onceHeld, onceAhead  sync.Once
	)
	// The backlog's failures left the endpoint one attempt in flight
	// (see TestFailingEndpointBackoff): successes of new messages widen it
	// again, so that three retries can be in flight together below.
	rc.set(true)
	for i := range 8 {
		f.waitFinal(t, f.send(t, "job.completed", map[string]any{"warm": i}).Id)
	}
	rc.mu.Lock()
	rc.gate = func(id string, nth int) int {
		mu.Lock()
		l, h, s := last, held, second
		mu.Unlock()
		switch {
		case (id == l || id == h || id == s) && nth == 1:
			return http.StatusServiceUnavailable
		case id == h && nth == 2:
			// In flight before the catch-up starts; fails once an
			// attempt ahead of its time shows it is running.
			onceHeld.Do(func() { close(heldRetry) })
			wait(sentAhead)
			return http.StatusServiceUnavailable
		case (id == l || id == s) && nth == 2:
			// The successes that start the catch-up and widen its
			// window past the held attempt.
			wait(heldRetry)
			return http.StatusOK
		case nth == 3:
			onceAhead.Do(func() { close(sentAhead) })
		}
		return 0
	}
	rc.mu.Unlock()
	// Ids are known only once sent; the gate must know them by their
	// first attempt, so each message's first attempt is put off until
	// its id is set (the gate answers 503 to it either way).
	mu.Lock()
	last = f.send(t, "job.completed", map[string]any{"job": "last"}).Id
	held = f.send(t, "job.completed", map[string]any{"job": "held"}).Id
	second = f.send(t, "job.completed", map[string]any{"job": "second"}).Id
	mu.Unlock()
	for _, id := range append([]string{last, second}, backlog...) {
		if d := f.waitFinal(t, id); d.Status != models.MESSAGESTATUS_SUCCESS {
			t.Errorf("message %s: status %d, want success", id, d.Status)
		}
	}
	// The held retry failed and was recorded as such (whether the
	// catch-up then sent it ahead depends on where its scan was).
	failed := 0
	for _, at := range f.attempts(t, held) {
		if at.Status == models.MESSAGESTATUS_FAIL {
			failed++
		}
	}
	if failed != 2 {
		t.Errorf("held message: %d failed attempts, want 2 (the first and the held retry)", failed)
	}
}

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"
	"github.com/svix/svix-webhooks/go/models"
)

func withDescription(d string) models.EventTypeUpdate { return models.EventTypeUpdate{Description: d} }

// setup creates an app and an endpoint on the receiver, and tells the
// receiver the endpoint's secret.
func setup(t *testing.T, c *svix.Svix, r *receiver) (appID string) {
	t.Helper()
	ctx := context.Background()
	app, err := c.Application.Create(ctx, models.ApplicationIn{Name: "durability"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := c.Endpoint.Create(ctx, app.Id, models.EndpointIn{Url: r.srv.URL + "/hook"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := c.Endpoint.GetSecret(ctx, app.Id, ep.Id)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.secret = sec.Key
	r.mu.Unlock()
	return app.Id
}

// send posts n messages from workers goroutines and returns the ids of those
// answered 2xx. Requests that fail (the process was killed) are not acked
// and not expected; the SDK's own retries are turned off so an ack is the
// answer to exactly one request.
func send(t *testing.T, n *node, appID string, count, workers int) []string {
	t.Helper()
	noRetry := []time.Duration{}
	c, err := svix.New(adminToken, &svix.SvixOptions{ServerUrl: n.baseURL(), RetrySchedule: &noRetry})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
		next  = make(chan int)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				payload := map[string]any{"job": fmt.Sprintf("job-%d", i), "state": "completed", "pad": strings.Repeat("x", 512)}
				out, err := c.Message.Create(context.Background(), appID, models.MessageIn{EventType: "job.completed", Payload: payload}, nil)
				if err == nil {
					mu.Lock()
					acked = append(acked, out.Id)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range count {
		next <- i
	}
	close(next)
	wg.Wait()
	return acked
}

// TestKill9AfterAckDelivers: messages answered 202 while the receiver is
// failing are still delivered after the process is SIGKILLed and restarted
// on the same data directory.
func TestKill9AfterAckDelivers(t *testing.T) {
	r := newReceiver(t)
	r.set(http.StatusServiceUnavailable, 0)
	n := newNode(t, "--retry-schedule", "500ms,500ms,1s,1s,2s,2s,5s")
	n.start()
	appID := setup(t, n.client(), r)

	acked := send(t, n, appID, 300, 16)
	if len(acked) != 300 {
		t.Fatalf("only %d of 300 messages acknowledged before the kill", len(acked))
	}
	n.kill()

	r.set(http.StatusOK, 0)
	n.start()
	checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		if m := r.missing(acked); len(m) > 0 {
			return fmt.Errorf("%d acknowledged messages not delivered yet: %s", len(m), joinIDs(m))
		}
		return nil
	})
	if bad := r.failures(); len(bad) > 0 {
		t.Fatalf("signature verification failed: %v", bad)
	}
	t.Logf("delivered %d acknowledged messages after kill -9; %d duplicates", len(acked), r.duplicates())
}

// TestKill9MidLoadLosesNothingAcked kills the process while clients are still
// sending: every message that got a 2xx must be delivered once the node is
// back; requests cut off by the kill may or may not have committed.
func TestKill9MidLoadLosesNothingAcked(t *testing.T) {
	r := newReceiver(t)
	n := newNode(t)
	n.start()
	appID := setup(t, n.client(), r)

	var (
		acked []string
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		acked = send(t, n, appID, 3000, 16)
	}()
	// Kill once a good part of the load has been acknowledged.
	checkFor(t, 60*time.Second, 10*time.Millisecond, func() error {
		r.mu.Lock()
		got := len(r.got)
		r.mu.Unlock()
		if got < 300 {
			return fmt.Errorf("only %d deliveries so far", got)
		}
		return nil
	})
	n.kill()
	<-done
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged before the kill")
	}

	n.start()
	checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		if m := r.missing(acked); len(m) > 0 {
			return fmt.Errorf("%d of %d acknowledged messages not delivered: %s", len(m), len(acked), joinIDs(m))
		}
		return nil
	})
	if bad := r.failures(); len(bad) > 0 {
		t.Fatalf("signature verification failed: %v", bad)
	}
	t.Logf("acknowledged %d of 3000 before kill -9; all delivered; %d duplicates", len(acked), r.duplicates())
}

// TestSigtermDrains: SIGTERM stops intake, lets the deliveries in flight
// finish and be recorded, and exits 0.
func TestSigtermDrains(t *testing.T) {
	r := newReceiver(t)
	r.set(http.StatusOK, 700*time.Millisecond)
	n := newNode(t)
	n.start()
	c := n.client()
	appID := setup(t, c, r)

	acked := send(t, n, appID, 20, 20)
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.inFlight == 0 {
			return fmt.Errorf("no delivery in flight yet")
		}
		return nil
	})
	start := time.Now()
	if err := n.terminate(30 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	t.Logf("SIGTERM to exit: %v", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(n.logs.String(), "shutdown complete") {
		t.Fatalf("no clean shutdown in the logs")
	}

	// Every request the receiver started before the signal was answered
	// and recorded as an attempt, so after a restart none is sent again
	// unless it was never started.
	r.mu.Lock()
	startedBefore := r.started
	r.mu.Unlock()
	r.set(http.StatusOK, 0)
	n.start()
	checkFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if m := r.missing(acked); len(m) > 0 {
			return fmt.Errorf("%d messages not delivered", len(m))
		}
		return nil
	})
	if d := r.duplicates(); d > 0 {
		t.Fatalf("%d deliveries were sent twice: in-flight attempts were not drained and recorded before exit (%d started before SIGTERM)", d, startedBefore)
	}
}

package appliance_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/svix/svix-webhooks/go/models"
)

// TestEndpointRecover: messages that failed for good while a receiver was
// down go out again, at once, when the endpoint is recovered with the Svix
// SDK; a message that succeeded is not sent again, and bad input is 422.
func TestEndpointRecover(t *testing.T) {
	t.Parallel()
	n := startNode(t) // the test schedule: three attempts within 300 ms, then fail
	rc, down := newSwitchedReceiver(t)
	f := newDeliveryFixture(t, n, rc, models.EndpointIn{})
	start := time.Now().Add(-time.Second)
	var failed []string
	for i := range 5 {
		m := f.send(t, "job.done", map[string]any{"n": i})
		if d := f.waitFinal(t, m.Id); d.Status != models.MESSAGESTATUS_FAIL {
			t.Fatalf("message %d: status %d, want fail", i, d.Status)
		}
		failed = append(failed, m.Id)
	}
	down.Store(false)
	ok := f.send(t, "job.done", map[string]any{"n": "ok"})
	f.waitFinal(t, ok.Id)
	sentBefore := rc.count() // 5 failed deliveries of 3 attempts each, 1 success

	out, err := n.sdk.Endpoint.Recover(ctx(t), f.app.Id, f.ep.Id, models.RecoverIn{Since: start}, nil)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if out.Id == "" || out.Task != "endpoint.recover" {
		t.Errorf("Recover = %+v", out)
	}
	// The recovery runs in the background: wait for every delivery to
	// succeed.
	for _, id := range failed {
		checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if d := f.destination(t, id); d.Status != models.MESSAGESTATUS_SUCCESS {
				return fmt.Errorf("%s after recovery: status %d, want success", id, d.Status)
			}
			return nil
		})
	}
	// The task reads back, on Svix's background-task route, as finished.
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		task, err := n.sdk.BackgroundTask.Get(ctx(t), out.Id)
		if err != nil {
			return err
		}
		if task.Status != models.BACKGROUNDTASKSTATUS_FINISHED || task.Task != models.BACKGROUNDTASKTYPE_ENDPOINT_RECOVER ||
			task.UpdatedAt.Before(start) || task.Data["queued"] != float64(len(failed)) {
			return fmt.Errorf("task %+v", task)
		}
		return nil
	})
	got := rc.waitFor(t, sentBefore+len(failed))
	for _, wh := range got[sentBefore:] {
		if id := wh.Header.Get("webhook-id"); id == ok.Id {
			t.Errorf("the message that had succeeded was sent again")
		}
	}

	path := "/api/v1/app/" + f.app.Id + "/endpoint/" + f.ep.Id + "/recover"
	idx := n.Store().AppliedIndex()
	for _, body := range []string{`{}`, `{"since":"tomorrow"}`, `{"since":"2999-01-01T00:00:00Z"}`,
		`{"since":"2026-01-02T00:00:00Z","until":"2026-01-01T00:00:00Z"}`,
		`{"since":"1000-01-01T00:00:00Z"}`, `{"since":"2026-01-01T00:00:00Z","until":"9999-01-01T00:00:00Z"}`} {
		if r := n.do(http.MethodPost, path, body); r.status != http.StatusUnprocessableEntity {
			t.Errorf("recover %s: %d %s, want 422", body, r.status, r.body)
		}
	}
	if got := n.Store().AppliedIndex(); got != idx {
		t.Errorf("refused recoveries moved the applied index %d -> %d", idx, got)
	}
}

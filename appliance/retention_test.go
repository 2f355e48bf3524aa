package appliance_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/appliance"
	"github.com/herald-webhooks/herald/config"
)

// TestRetentionAndExpunge drives the leader's purge with a clock of the
// test's own: payloads go at their message's or the server's retention and
// read as {} while the message stays listed, records go at the record
// retention, a pending delivery keeps its message, and expunge drops a
// payload or a response body at once.
func TestRetentionAndExpunge(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	n := startNodeWith(t, appliance.Options{Now: clock}, func(c *config.Config) {
		c.Storage.PurgeInterval = config.Duration{Duration: 100 * time.Millisecond}
		c.Storage.PayloadRetention = config.Duration{Duration: 24 * time.Hour}
		c.Storage.RecordRetention = config.Duration{Duration: 48 * time.Hour}
		c.Storage.PurgeBatch = 2 // several entries per pass
	})
	rc := newReceiver(t)
	var app, ep struct{ ID string }
	n.do("POST", "/api/v1/app", map[string]any{"name": "retention"}).json(t, &app)
	n.do("POST", "/api/v1/app/"+app.ID+"/endpoint", map[string]any{"url": rc.URL("/hook")}).json(t, &ep)

	send := func(body map[string]any) string {
		t.Helper()
		body["eventType"] = "job.completed"
		body["payload"] = map[string]any{"job": 1}
		r := n.do("POST", "/api/v1/app/"+app.ID+"/msg", body)
		if r.status != http.StatusAccepted {
			t.Fatalf("create message: %d %s", r.status, r.body)
		}
		var m struct{ ID string }
		r.json(t, &m)
		return m.ID
	}
	long := send(map[string]any{})                            // the server's 24 h
	short := send(map[string]any{"payloadRetentionHours": 1}) // 1 h
	days := send(map[string]any{"payloadRetentionPeriod": 2}) // 2 days, longer than the records' 48 h
	pending := send(map[string]any{"deliverAt": clock().Add(10 * 24 * time.Hour)})
	for i := 0; i < 5; i++ {
		send(map[string]any{}) // more than one purge entry's worth
	}
	if r := n.do("POST", "/api/v1/app/"+app.ID+"/msg", map[string]any{"eventType": "a", "payload": map[string]any{}, "payloadRetentionHours": 0}); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("payloadRetentionHours 0: %d %s, want 422", r.status, r.body)
	}
	rc.waitFor(t, 8)

	payload := func(id string) (int, string) {
		r := n.do("GET", "/api/v1/app/"+app.ID+"/msg/"+id, nil)
		var m struct {
			Payload any `json:"payload"`
		}
		if r.status == http.StatusOK {
			r.json(t, &m)
		}
		return r.status, fmt.Sprint(m.Payload)
	}
	waitPayload := func(id, want string) {
		t.Helper()
		checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if status, p := payload(id); status != http.StatusOK || p != want {
				return fmt.Errorf("message %s: %d payload %s, want %s", id, status, p, want)
			}
			return nil
		})
	}
	waitGone := func(id string) {
		t.Helper()
		checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if status, _ := payload(id); status != http.StatusNotFound {
				return fmt.Errorf("message %s: %d, want 404 once purged", id, status)
			}
			return nil
		})
	}

	// Expunge: a payload now, and an attempt's response body.
	if r := n.do("DELETE", "/api/v1/app/"+app.ID+"/msg/"+days+"/content", nil); r.status != http.StatusNoContent {
		t.Fatalf("expunge content: %d %s", r.status, r.body)
	}
	waitPayload(days, "map[]")
	var atts struct {
		Data []struct {
			ID       string `json:"id"`
			Response string `json:"response"`
		}
	}
	n.do("GET", "/api/v1/app/"+app.ID+"/attempt/msg/"+long, nil).json(t, &atts)
	if len(atts.Data) != 1 || atts.Data[0].Response == "" {
		t.Fatalf("attempts of %s: %+v", long, atts.Data)
	}
	if r := n.do("DELETE", "/api/v1/app/"+app.ID+"/msg/"+long+"/attempt/"+atts.Data[0].ID+"/content", nil); r.status != http.StatusNoContent {
		t.Fatalf("expunge attempt content: %d %s", r.status, r.body)
	}
	n.do("GET", "/api/v1/app/"+app.ID+"/attempt/msg/"+long, nil).json(t, &atts)
	if atts.Data[0].Response != "" {
		t.Fatalf("response after expunge = %q", atts.Data[0].Response)
	}
	if r := n.do("DELETE", "/api/v1/app/"+app.ID+"/msg/"+long+"/attempt/atmpt_nope/content", nil); r.status != http.StatusNotFound {
		t.Fatalf("expunge of an unknown attempt: %d %s, want 404", r.status, r.body)
	}

	// Two hours on: only the 1 h payload is gone.
	offset.Store(int64(2 * time.Hour))
	waitPayload(short, "map[]")
	if _, p := payload(long); p != "map[job:1]" {
		t.Fatalf("24 h payload after 2 h: %s", p)
	}
	// A day on: the server's retention too; the message stays listed.
	offset.Store(int64(25 * time.Hour))
	waitPayload(long, "map[]")
	var list struct{ Data []struct{ ID string } }
	n.do("GET", "/api/v1/app/"+app.ID+"/msg", nil).json(t, &list)
	if len(list.Data) != 9 {
		t.Fatalf("%d messages listed after payload expiry, want 9", len(list.Data))
	}
	if _, p := payload(pending); p != "map[job:1]" {
		t.Fatalf("pending message's payload after 25 h: %s", p)
	}
	// Past the record retention: everything but the pending message goes.
	offset.Store(int64(49 * time.Hour))
	for _, id := range []string{long, short, days} {
		waitGone(id)
	}
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		n.do("GET", "/api/v1/app/"+app.ID+"/msg", nil).json(t, &list)
		if len(list.Data) != 1 || list.Data[0].ID != pending {
			return fmt.Errorf("listed after the record retention: %+v, want only %s", list.Data, pending)
		}
		return nil
	})
	if _, p := payload(pending); p != "map[job:1]" {
		t.Fatalf("pending message's payload after 49 h: %s", p)
	}
}

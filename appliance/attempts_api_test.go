package appliance_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/svix/svix-webhooks/go/models"
)

// attemptWithHeaders is the attempt JSON with Herald's header additions.
type attemptWithHeaders struct {
	ID              string            `json:"id"`
	Response        string            `json:"response"`
	SentHeaders     map[string]string `json:"sentHeaders"`
	ResponseHeaders [][]string        `json:"responseHeaders"`
}

// TestAttemptHeadersRecorded checks that an attempt keeps the headers it
// was sent with and its response's, as the receiver saw them, with every
// credential redacted, on every route that returns attempts; and that
// with_content=false leaves them out.
func TestAttemptHeadersRecorded(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	rc := newReceiver(t, reply{Status: http.StatusAccepted, Body: "thanks",
		Header: map[string]string{"X-Receiver": "r1", "Set-Cookie": "sid=receiver-secret"}})
	app, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "Attempt headers"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := n.sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{Url: rc.URL("/hook"),
		Headers: &map[string]string{"Authorization": "Basic dXNlcjpzM2NyM3Q=", "X-Team": "a", "X-Client-Secret": "cs-123"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := n.sdk.Message.Create(ctx(t), app.Id, models.MessageIn{EventType: "job.done", Payload: map[string]any{"k": 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wh := rc.waitFor(t, 1)[0]
	var list struct{ Data []attemptWithHeaders }
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		r := n.do(http.MethodGet, "/api/v1/app/"+app.Id+"/attempt/msg/"+msg.Id, nil)
		r.json(t, &list)
		if len(list.Data) != 1 {
			return fmt.Errorf("%d attempts", len(list.Data))
		}
		return nil
	})
	at := list.Data[0]
	for name, want := range map[string]string{
		"Authorization":     "[redacted]",
		"X-Client-Secret":   "[redacted]",
		"X-Team":            "a",
		"Content-Type":      "application/json",
		"Webhook-Id":        msg.Id,
		"Webhook-Timestamp": wh.Header.Get("Webhook-Timestamp"),
		"Webhook-Signature": wh.Header.Get("Webhook-Signature"),
	} {
		if got := at.SentHeaders[name]; got != want {
			t.Errorf("sentHeaders[%s] = %q, want %q (all: %v)", name, got, want, at.SentHeaders)
		}
	}
	resp := map[string]string{}
	for _, p := range at.ResponseHeaders {
		resp[p[0]] = p[1]
	}
	if resp["X-Receiver"] != "r1" || resp["Set-Cookie"] != "[redacted]" {
		t.Errorf("responseHeaders = %v, want X-Receiver r1 and Set-Cookie redacted", at.ResponseHeaders)
	}
	paths := []string{
		"/api/v1/app/" + app.Id + "/attempt/msg/" + msg.Id,
		"/api/v1/app/" + app.Id + "/attempt/endpoint/" + ep.Id,
		"/api/v1/app/" + app.Id + "/msg/" + msg.Id + "/attempt/" + at.ID,
	}
	for _, p := range paths {
		body := string(n.do(http.MethodGet, p, nil).body)
		for _, secret := range []string{"dXNlcjpzM2NyM3Q=", "cs-123", "receiver-secret"} {
			if strings.Contains(body, secret) {
				t.Errorf("GET %s returns %q in the clear: %s", p, secret, body)
			}
		}
		if !strings.Contains(body, `"sentHeaders"`) {
			t.Errorf("GET %s has no sentHeaders: %s", p, body)
		}
	}
	// Svix's attempt headers route: the same headers, and the names hidden.
	var hdrs struct {
		SentHeaders     map[string]string `json:"sentHeaders"`
		ResponseHeaders [][]string        `json:"responseHeaders"`
		Sensitive       []string          `json:"sensitive"`
	}
	n.do(http.MethodGet, paths[2]+"/headers", nil).json(t, &hdrs)
	if hdrs.SentHeaders["X-Team"] != "a" || len(hdrs.ResponseHeaders) != len(at.ResponseHeaders) ||
		strings.Join(hdrs.Sensitive, ",") != "Authorization,X-Client-Secret" {
		t.Errorf("attempt headers route: %+v", hdrs)
	}
	for _, p := range paths[:2] {
		if body := string(n.do(http.MethodGet, p+"?with_content=false", nil).body); strings.Contains(body, "Headers\"") {
			t.Errorf("GET %s?with_content=false returns headers: %s", p, body)
		}
	}
}

// TestAppDeliveriesByStatus pages the app-wide delivery list filtered by
// status through the API: matches spread unevenly over three endpoints,
// more than one page of them, each exactly once, newest message first.
func TestAppDeliveriesByStatus(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	rc := newReceiver(t)
	app, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "Deliveries"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	filters := [][]string{nil, {"b.rare", "c.once"}, {"c.once"}}
	var epIDs []string
	for _, f := range filters {
		in := models.EndpointIn{Url: rc.URL("/hook")}
		if f != nil {
			in.FilterTypes = f
		}
		ep, err := n.sdk.Endpoint.Create(ctx(t), app.Id, in, nil)
		if err != nil {
			t.Fatal(err)
		}
		epIDs = append(epIDs, ep.Id)
	}
	want := 0
	for i := range 12 {
		et := "a.common"
		switch i {
		case 3, 7:
			et = "b.rare"
		case 10:
			et = "c.once"
		}
		if _, err := n.sdk.Message.Create(ctx(t), app.Id, models.MessageIn{EventType: et, Payload: map[string]any{"i": i}}, nil); err != nil {
			t.Fatal(err)
		}
		want += map[string]int{"a.common": 1, "b.rare": 2, "c.once": 3}[et]
	}
	rc.waitFor(t, want)
	type row struct {
		ID         string `json:"id"`
		EndpointID string `json:"endpointId"`
		Status     int    `json:"status"`
	}
	var seen []row
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		seen = seen[:0]
		it := ""
		for range 20 {
			var page struct {
				Data     []row
				Iterator string
				Done     bool
			}
			n.do(http.MethodGet, "/api/v1/app/"+app.Id+"/delivery?status=0&limit=4&iterator="+it, nil).json(t, &page)
			seen = append(seen, page.Data...)
			if page.Done {
				break
			}
			it = page.Iterator
		}
		if len(seen) != want {
			return fmt.Errorf("%d succeeded deliveries listed, want %d", len(seen), want)
		}
		return nil
	})
	dup := map[row]bool{}
	for i, r := range seen {
		if dup[r] || r.Status != 0 || (i > 0 && r.ID > seen[i-1].ID) {
			t.Fatalf("row %d %+v repeated, not succeeded or out of order: %+v", i, r, seen)
		}
		dup[r] = true
	}
	// No pending or failed deliveries: the other statuses list nothing.
	var failed struct{ Data []row }
	n.do(http.MethodGet, "/api/v1/app/"+app.Id+"/delivery?status=2", nil).json(t, &failed)
	if len(failed.Data) != 0 {
		t.Errorf("status=2 lists %v", failed.Data)
	}
	if r := n.do(http.MethodGet, "/api/v1/app/"+app.Id+"/delivery?status=9", nil); r.status != http.StatusUnprocessableEntity {
		t.Errorf("status=9: %d, want 422", r.status)
	}
}

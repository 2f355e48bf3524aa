package appliance_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/svix/svix-webhooks/go/models"

	"github.com/herald-webhooks/herald/appliance"
	"github.com/herald-webhooks/herald/config"
	"github.com/herald-webhooks/herald/storage"
)

// fakeResolver resolves the names it holds, and nothing else.
type fakeResolver map[string]netip.Addr

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return []netip.Addr{a}, nil
	}
	return nil, errors.New("no such host")
}

// destMessage posts a message of app naming a one-off destination.
func destMessage(n *testNode, appID, url string) rawResponse {
	n.t.Helper()
	return n.do("POST", "/api/v1/app/"+appID+"/msg", fmt.Sprintf(`{"eventType":"job.completed","payload":{"job":1},"destination":{"url":%q}}`, url))
}

// TestDestinationRefused: a one-off destination URL passes the checks an
// endpoint URL does when it is given, each refusal a 422 naming
// destination.url, and nothing is stored.
func TestDestinationRefused(t *testing.T) {
	t.Parallel()
	n := startNodeWith(t, appliance.Options{Resolver: fakeResolver{"loopback.herald.test": netip.MustParseAddr("127.0.0.1")}},
		func(c *config.Config) { c.AllowPrivateCIDR = nil })
	var app, strict struct{ ID string }
	n.do("POST", "/api/v1/app", `{"name":"open"}`).json(t, &app)
	n.do("POST", "/api/v1/app", `{"name":"a","deliveryPolicy":{"httpsOnly":true}}`).json(t, &strict)
	refused := []struct{ name, app, body, want string }{
		{"malformed", app.ID, `{"url":"https://exa mple.com/h"}`, "whitespace"},
		{"not http", app.ID, `{"url":"ftp://example.com/h"}`, "http"},
		{"http on an https-only app", strict.ID, `{"url":"http://example.com/h"}`, "httpsOnly"},
		{"private address", app.ID, `{"url":"https://10.0.0.1/h"}`, "private or reserved"},
		{"loopback literal", app.ID, `{"url":"http://127.0.0.1:9/h"}`, "private or reserved"},
		{"name resolving to loopback", app.ID, `{"url":"https://loopback.herald.test/h"}`, "resolves to 127.0.0.1"},
		{"no url", app.ID, `{}`, "field required"},
		{"unknown field", app.ID, `{"url":"https://example.com/h","headers":{"a":"b"}}`, "unknown field"},
	}
	for _, c := range refused {
		r := n.do("POST", "/api/v1/app/"+c.app+"/msg", `{"eventType":"job.completed","payload":{"job":1},"destination":`+c.body+`}`)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), c.want) || !strings.Contains(string(r.body), `"destination"`) {
			t.Errorf("%s: %d %s, want 422 on destination saying %q", c.name, r.status, r.body, c.want)
		}
	}
	if got := n.counts(); got.Messages != 0 {
		t.Fatalf("refused messages were stored: %+v", got)
	}
	// A server that is https-only refuses http destinations too.
	hs := startNode(t, func(c *config.Config) { c.HTTPSOnly = true })
	hs.do("POST", "/api/v1/app", `{"name":"h"}`).json(t, &app)
	if r := destMessage(hs, app.ID, "http://example.com/h"); r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), `"destination"`) {
		t.Errorf("http destination on an https-only server: %d %s", r.status, r.body)
	}
	if got := hs.counts(); got.Messages != 0 {
		t.Fatalf("refused messages were stored: %+v", got)
	}
}

// destinationRow is a message's delivery as GET .../msg/{msg}/endpoint lists it.
type destinationRow struct {
	ID         string `json:"id"`
	URL        string `json:"url"`
	Status     int    `json:"status"`
	Attempts   int    `json:"attempts"`
	DeliveryID string `json:"deliveryId"`
	OneOff     bool   `json:"oneOff"`
}

// attemptRow is an attempt as the attempts APIs list it.
type attemptRow struct {
	ID          string `json:"id"`
	EndpointID  string `json:"endpointId"`
	URL         string `json:"url"`
	Status      int    `json:"status"`
	Code        int    `json:"responseStatusCode"`
	TriggerType int    `json:"triggerType"`
	DeliveryID  string `json:"deliveryId"`
}

// TestDestinationDelivery: a message naming a one-off destination is
// delivered there, besides the app's endpoint, signed with the app's
// secret; a failed attempt is retried on the app's schedule, every attempt
// is listed by message and by destination id, resend and recover work,
// and the destination never shows as an endpoint.
func TestDestinationDelivery(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	rc := newReceiver(t, reply{Status: http.StatusInternalServerError, Body: "down"})
	epRc := newReceiver(t)
	f := newDeliveryFixture(t, n, epRc, models.EndpointIn{})
	url := rc.URL("/jobs/42/webhook")

	r := destMessage(n, f.app.Id, url)
	if r.status != http.StatusAccepted {
		t.Fatalf("create message: %d %s", r.status, r.body)
	}
	var msg struct {
		ID          string `json:"id"`
		Destination struct{ ID, URL string }
	}
	r.json(t, &msg)
	dst := msg.Destination.ID
	if !storage.IsDestination(dst) || msg.Destination.URL != url {
		t.Fatalf("message destination = %+v", msg.Destination)
	}
	var secret struct{ Key string }
	if r := n.do("GET", "/api/v1/app/"+f.app.Id+"/secret", nil); r.status != http.StatusOK {
		t.Fatalf("GET app secret: %d %s", r.status, r.body)
	} else {
		r.json(t, &secret)
	}

	// Failed once, then delivered on the app's (here the server's) schedule.
	got := rc.waitFor(t, 2)
	for _, wh := range got {
		verifyWebhook(t, secret.Key, wh)
		if wh.Header.Get("webhook-id") != msg.ID {
			t.Errorf("webhook-id %q, want the message id", wh.Header.Get("webhook-id"))
		}
	}
	var rows []destinationRow
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		var l struct{ Data []destinationRow }
		n.do("GET", "/api/v1/app/"+f.app.Id+"/msg/"+msg.ID+"/endpoint", nil).json(t, &l)
		rows = l.Data
		for _, d := range rows {
			if d.Status != int(storage.StatusSuccess) {
				return fmt.Errorf("delivery to %s: status %d", d.ID, d.Status)
			}
		}
		if len(rows) != 2 {
			return fmt.Errorf("%d destinations, want 2", len(rows))
		}
		return nil
	})
	var one destinationRow
	for _, d := range rows {
		if d.OneOff {
			one = d
		} else if d.ID != f.ep.Id || d.DeliveryID == "" {
			t.Errorf("endpoint delivery row %+v", d)
		}
	}
	if one.ID != dst || one.URL != url || one.Attempts != 2 || one.DeliveryID != storage.DeliveryID(msg.ID, dst) {
		t.Fatalf("one-off delivery row %+v", one)
	}
	for _, d := range rows {
		if !d.OneOff && d.DeliveryID == one.DeliveryID {
			t.Errorf("the endpoint's delivery shares the one-off's id %s", d.DeliveryID)
		}
	}

	listAttempts := func(path string) []attemptRow {
		t.Helper()
		var l struct{ Data []attemptRow }
		r := n.do("GET", path, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		r.json(t, &l)
		var out []attemptRow
		for _, a := range l.Data {
			if a.EndpointID == dst {
				out = append(out, a)
			}
		}
		return out
	}
	ats := listAttempts("/api/v1/app/" + f.app.Id + "/attempt/msg/" + msg.ID)
	if len(ats) != 2 || ats[1].Code != 500 || ats[0].Code != 200 || ats[0].URL != url || ats[0].DeliveryID != one.DeliveryID {
		t.Fatalf("attempts by message: %+v", ats)
	}

	// Resend: a third request, with the same ids.
	if r := n.do("POST", "/api/v1/app/"+f.app.Id+"/msg/"+msg.ID+"/endpoint/"+dst+"/resend", `{}`); r.status != http.StatusAccepted {
		t.Fatalf("resend: %d %s", r.status, r.body)
	}
	third := rc.waitFor(t, 3)[2]
	if third.Header.Get("webhook-id") != msg.ID {
		t.Errorf("resend webhook-id %q", third.Header.Get("webhook-id"))
	}
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if a := listAttempts("/api/v1/app/" + f.app.Id + "/attempt/endpoint/" + dst); len(a) != 3 || a[0].TriggerType != int(storage.TriggerManual) {
			return fmt.Errorf("attempts by destination: %+v", a)
		}
		return nil
	})

	// Not an endpoint: neither listed nor readable as one.
	var eps struct{ Data []struct{ ID string } }
	n.do("GET", "/api/v1/app/"+f.app.Id+"/endpoint", nil).json(t, &eps)
	if len(eps.Data) != 1 || eps.Data[0].ID != f.ep.Id {
		t.Errorf("endpoint list: %+v", eps.Data)
	}
	if r := n.do("GET", "/api/v1/app/"+f.app.Id+"/endpoint/"+dst, nil); r.status != http.StatusNotFound {
		t.Errorf("GET the destination as an endpoint: %d", r.status)
	}
	// An id no message of the app was sent to is unknown.
	other := storage.DestinationID(f.app.Id, "https://never.example.com/")
	if r := n.do("GET", "/api/v1/app/"+f.app.Id+"/attempt/endpoint/"+other, nil); r.status != http.StatusNotFound {
		t.Errorf("attempts of an unused destination id: %d %s", r.status, r.body)
	}
	if r := n.do("POST", "/api/v1/app/"+f.app.Id+"/endpoint", `{"url":"https://example.com/h","uid":"dst_mine"}`); r.status != http.StatusUnprocessableEntity {
		t.Errorf("an endpoint uid that reads as a destination id: %d %s", r.status, r.body)
	}
	if r := n.do("POST", "/api/v1/app/"+f.app.Id+"/endpoint/"+dst+"/replay-missing", `{"since":"2020-01-01T00:00:00Z"}`); r.status != http.StatusNotFound {
		t.Errorf("replay-missing on a destination: %d %s", r.status, r.body)
	}
}

// TestDestinationRecover: a one-off delivery that failed every attempt is
// sent again by recover on its destination id.
func TestDestinationRecover(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	var up atomic.Bool
	rc := newScriptedReceiver(t, func(int) reply {
		if up.Load() {
			return reply{Status: http.StatusOK}
		}
		return reply{Status: http.StatusServiceUnavailable}
	})
	var app struct{ ID string }
	n.do("POST", "/api/v1/app", `{"name":"r"}`).json(t, &app)
	since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	r := destMessage(n, app.ID, rc.URL("/hook"))
	var msg struct {
		ID          string
		Destination struct{ ID string }
	}
	r.json(t, &msg)
	waitStatus := func(want storage.Status) {
		t.Helper()
		checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			var l struct{ Data []destinationRow }
			n.do("GET", "/api/v1/app/"+app.ID+"/msg/"+msg.ID+"/endpoint", nil).json(t, &l)
			if len(l.Data) != 1 || l.Data[0].Status != int(want) {
				return fmt.Errorf("deliveries %+v, want status %d", l.Data, want)
			}
			return nil
		})
	}
	waitStatus(storage.StatusFail) // 1 attempt and the 2 retries of the test schedule
	up.Store(true)
	if r := n.do("POST", "/api/v1/app/"+app.ID+"/endpoint/"+msg.Destination.ID+"/recover", `{"since":"`+since+`"}`); r.status != http.StatusAccepted {
		t.Fatalf("recover: %d %s", r.status, r.body)
	}
	waitStatus(storage.StatusSuccess)
	if c := rc.count(); c != 4 {
		t.Errorf("receiver got %d requests, want 4", c)
	}
}

// TestAppSecretRotation: the app's secret is readable and rotates with a
// grace period, as an endpoint's does: a delivery after the rotation is
// signed with both.
func TestAppSecretRotation(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	rc := newReceiver(t)
	var app struct{ ID string }
	n.do("POST", "/api/v1/app", `{"name":"s"}`).json(t, &app)
	var before, after struct{ Key string }
	n.do("GET", "/api/v1/app/"+app.ID+"/secret", nil).json(t, &before)
	if !strings.HasPrefix(before.Key, "whsec_") {
		t.Fatalf("app secret %q", before.Key)
	}
	if r := n.do("POST", "/api/v1/app/"+app.ID+"/secret/rotate", `{}`); r.status != http.StatusNoContent {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	n.do("GET", "/api/v1/app/"+app.ID+"/secret", nil).json(t, &after)
	if after.Key == before.Key || !strings.HasPrefix(after.Key, "whsec_") {
		t.Fatalf("secret after rotation %q (before %q)", after.Key, before.Key)
	}
	if r := destMessage(n, app.ID, rc.URL("/h")); r.status != http.StatusAccepted {
		t.Fatalf("create message: %d %s", r.status, r.body)
	}
	wh := rc.waitFor(t, 1)[0]
	verifyWebhook(t, after.Key, wh)
	verifyWebhook(t, before.Key, wh)
	if sigs := strings.Fields(wh.Header.Get("webhook-signature")); len(sigs) != 2 {
		t.Errorf("webhook-signature %q, want two signatures", wh.Header.Get("webhook-signature"))
	}
	if r := n.do("POST", "/api/v1/app/"+app.ID+"/secret/rotate", `{"gracePeriodSeconds":-1}`); r.status != http.StatusUnprocessableEntity {
		t.Errorf("rotate with a negative grace: %d", r.status)
	}
}

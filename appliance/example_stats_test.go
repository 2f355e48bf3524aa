package appliance_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"
	"github.com/svix/svix-webhooks/go/models"
)

// TestSendExampleAndStats drives Svix's send-example and endpoint stats
// routes with the SDK: the example is the event type's schema example,
// reaches only the endpoint named (not another that subscribes to
// everything), and the stats count it once delivered; an app-portal token
// may use both, a read-only one may only read the stats.
func TestSendExampleAndStats(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	sdk := n.sdk
	target, other := newReceiver(t), newReceiver(t, reply{Status: http.StatusInternalServerError})
	app, err := sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "Examples"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string]any{"1": map[string]any{"type": "object", "examples": []any{map[string]any{"job": "j_1", "state": "completed"}}}}
	if _, err := sdk.EventType.Create(ctx(t), models.EventTypeIn{Name: "job.completed", Description: "done", Schemas: &schemas}, nil); err != nil {
		t.Fatal(err)
	}
	ep, err := sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{Url: target.URL("/hook"), FilterTypes: []string{"job.failed"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{Url: other.URL("/hook")}, nil); err != nil {
		t.Fatal(err)
	}

	msg, err := sdk.Endpoint.SendExample(ctx(t), app.Id, ep.Id, models.EventExampleIn{EventType: "job.completed"}, nil)
	if err != nil {
		t.Fatalf("SendExample: %v", err)
	}
	if msg.EventType != "job.completed" || msg.Payload["job"] != "j_1" {
		t.Errorf("SendExample = %+v, want the schema's example", msg)
	}
	wh := target.waitFor(t, 1)[0]
	var got map[string]any
	if err := json.Unmarshal(wh.Body, &got); err != nil || got["state"] != "completed" || wh.Header.Get("webhook-id") != msg.Id {
		t.Errorf("delivered %s (%v), headers %v", wh.Body, err, wh.Header)
	}
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		st, err := sdk.Endpoint.GetStats(ctx(t), app.Id, ep.Id, nil)
		if err != nil {
			return err
		}
		if st.Success != 1 || st.Fail != 0 || st.Pending != 0 {
			return fmt.Errorf("stats = %+v, want one success", st)
		}
		return nil
	})
	if c := other.count(); c != 0 {
		t.Errorf("another endpoint got %d example requests", c)
	}

	// Without a schema example (or for svix.ping) a sample is made up.
	ping, err := sdk.Endpoint.SendExample(ctx(t), app.Id, ep.Id, models.EventExampleIn{EventType: "svix.ping"}, nil)
	if err != nil || ping.EventType != "svix.ping" || len(ping.Payload) == 0 {
		t.Fatalf("SendExample(svix.ping) = %+v, %v", ping, err)
	}
	target.waitFor(t, 2)

	// A window before the messages counts nothing.
	old := time.Now().Add(-48 * time.Hour)
	st, err := sdk.Endpoint.GetStats(ctx(t), app.Id, ep.Id, &svix.EndpointGetStatsOptions{Since: &old, Until: ptr(old.Add(time.Hour))})
	if err != nil || st.Success+st.Fail+st.Pending+st.Sending != 0 {
		t.Errorf("stats of an empty window = %+v, %v", st, err)
	}

	base := "/api/v1/app/" + app.Id + "/endpoint/" + ep.Id
	for _, tc := range []struct {
		name string
		body any
	}{
		{"unknown event type", map[string]any{"eventType": "no.such"}},
		{"missing event type", map[string]any{}},
		{"index past the examples", map[string]any{"eventType": "job.completed", "exampleIndex": 3}},
	} {
		if r := n.do(http.MethodPost, base+"/send-example", tc.body); r.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d %s, want 422", tc.name, r.status, r.body)
		}
	}
	if r := n.do(http.MethodGet, base+"/stats?since=yesterday", nil); r.status != http.StatusUnprocessableEntity {
		t.Errorf("bad since: status %d, want 422", r.status)
	}

	portal := func(readOnly bool) string {
		var out struct{ Token string }
		n.do(http.MethodPost, "/api/v1/auth/app-portal-access/"+app.Id, map[string]any{"readOnly": readOnly}).json(t, &out)
		return out.Token
	}
	tok := portal(false)
	if r := n.doToken(tok, http.MethodPost, base+"/send-example", map[string]any{"eventType": "job.completed"}); r.status != http.StatusAccepted {
		t.Errorf("app token send-example: %d %s", r.status, r.body)
	}
	ro := portal(true)
	if r := n.doToken(ro, http.MethodPost, base+"/send-example", map[string]any{"eventType": "job.completed"}); r.status != http.StatusForbidden {
		t.Errorf("read-only token send-example: %d, want 403", r.status)
	}
	if r := n.doToken(ro, http.MethodGet, base+"/stats", nil); r.status != http.StatusOK {
		t.Errorf("read-only token stats: %d %s", r.status, r.body)
	}
	var apiErr *svix.Error
	_, err = sdk.Endpoint.SendExample(ctx(t), app.Id, "ep_none", models.EventExampleIn{EventType: "job.completed"}, nil)
	if !errors.As(err, &apiErr) || apiErr.Status() != http.StatusNotFound {
		t.Errorf("SendExample to a missing endpoint: %v", err)
	}
}

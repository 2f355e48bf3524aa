package appliance_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/svix/svix-webhooks/go/models"

	"github.com/herald-webhooks/herald/config"
	"github.com/herald-webhooks/herald/storage"
)

// opsReceiver is a receiver for operational webhooks, with the secret of
// the operational endpoint made on it.
type opsReceiver struct {
	*receiver
	ep     *models.OperationalWebhookEndpointOut
	secret string
}

// newOpsReceiver makes an operational webhook endpoint on a new receiver
// with the Svix SDK.
func newOpsReceiver(t *testing.T, n *testNode, in models.OperationalWebhookEndpointIn) *opsReceiver {
	t.Helper()
	rc := newReceiver(t)
	in.Url = rc.URL("/ops")
	ep, err := n.sdk.OperationalWebhookEndpoint.Create(ctx(t), in, nil)
	if err != nil {
		t.Fatalf("create operational endpoint: %v", err)
	}
	sec, err := n.sdk.OperationalWebhookEndpoint.GetSecret(ctx(t), ep.Id)
	if err != nil {
		t.Fatalf("operational endpoint secret: %v", err)
	}
	return &opsReceiver{receiver: rc, ep: ep, secret: sec.Key}
}

// opsNotice is a notice as received: Svix's event shape.
type opsNotice struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
	at        time.Time
}

// notices returns the notices received so far, each verified with the
// operational endpoint's own secret.
func (o *opsReceiver) notices(t *testing.T) []opsNotice {
	t.Helper()
	var out []opsNotice
	for _, wh := range o.webhooks() {
		verifyWebhook(t, o.secret, wh)
		var n opsNotice
		if err := json.Unmarshal(wh.Body, &n); err != nil {
			t.Fatalf("notice is not JSON: %s", wh.Body)
		}
		n.at = wh.At
		out = append(out, n)
	}
	return out
}

// waitNotice waits for a notice of the given type and returns it.
func (o *opsReceiver) waitNotice(t *testing.T, typ string) opsNotice {
	t.Helper()
	var got opsNotice
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		for _, n := range o.notices(t) {
			if n.Type == typ {
				got = n
				return nil
			}
		}
		return fmt.Errorf("no %s notice yet", typ)
	})
	return got
}

// TestOperationalWebhooks: an endpoint that fails every attempt of a
// message makes a message.attempt.failing notice on the fourth failure and
// one message.attempt.exhausted notice after the last, delivered to the
// operational endpoint, signed with its own secret, in Svix's shapes.
func TestOperationalWebhooks(t *testing.T) {
	t.Parallel()
	n := startNode(t, func(c *config.Config) {
		c.Delivery.RetrySchedule = []config.Duration{{Duration: 50 * time.Millisecond}, {Duration: 50 * time.Millisecond},
			{Duration: 50 * time.Millisecond}, {Duration: 50 * time.Millisecond}} // five attempts
	})
	ops := newOpsReceiver(t, n, models.OperationalWebhookEndpointIn{Description: ptr("ops")})
	rc := newReceiver(t, slices.Repeat([]reply{{Status: http.StatusInternalServerError, Body: "no"}}, 5)...)
	f := newDeliveryFixture(t, n, rc, models.EndpointIn{})
	created := ops.waitNotice(t, "endpoint.created")
	var cd models.EndpointCreatedEventData
	if err := json.Unmarshal(created.Data, &cd); err != nil || cd.AppId != f.app.Id || cd.EndpointId != f.ep.Id {
		t.Errorf("endpoint.created data %s (%v)", created.Data, err)
	}

	m := f.send(t, "job.done", map[string]any{"n": 1})
	if d := f.waitFinal(t, m.Id); d.Status != models.MESSAGESTATUS_FAIL {
		t.Fatalf("delivery status %d, want fail", d.Status)
	}
	atts := f.attempts(t, m.Id)
	if len(atts) != 5 {
		t.Fatalf("%d attempts, want 5", len(atts))
	}
	ex := ops.waitNotice(t, "message.attempt.exhausted")
	var ed models.MessageAttemptExhaustedEvent
	raw, _ := json.Marshal(map[string]any{"type": ex.Type, "data": ex.Data})
	if err := json.Unmarshal(raw, &ed); err != nil {
		t.Fatalf("exhausted notice does not decode as the SDK's event: %v", err)
	}
	last := atts[4]
	if ed.Data.AppId != f.app.Id || ed.Data.EndpointId != f.ep.Id || ed.Data.MsgId != m.Id ||
		ed.Data.LastAttempt.Id != last.Id || ed.Data.LastAttempt.ResponseStatusCode != 500 ||
		!ed.Data.LastAttempt.Timestamp.Equal(last.Timestamp) {
		t.Errorf("exhausted data %+v, want the last attempt %s of %s", ed.Data, last.Id, m.Id)
	}
	fl := ops.waitNotice(t, "message.attempt.failing")
	var fd models.MessageAttemptFailingEventData
	if err := json.Unmarshal(fl.Data, &fd); err != nil || fd.LastAttempt.Id != atts[3].Id {
		t.Errorf("failing data %s, want the fourth attempt %s (%v)", fl.Data, atts[3].Id, err)
	}
	// Exactly one of each: the state holds the notices that will ever be
	// sent, so counting them there needs no waiting for what does not come.
	counts := map[string]int{}
	err := n.Store().View(func(r *storage.Reader) error {
		p, err := r.ListMessages(storage.OpsAppID, storage.MessageFilter{}, storage.ListOptions{Limit: 100})
		for _, msg := range p.Items {
			counts[msg.EventType]++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if counts["message.attempt.exhausted"] != 1 || counts["message.attempt.failing"] != 1 || counts["message.attempt.recovered"] != 0 {
		t.Errorf("notices made: %v, want one exhausted and one failing", counts)
	}

	// The hidden application stays hidden.
	if r := n.do("GET", "/api/v1/app", nil); !json.Valid(r.body) || bytes.Contains(r.body, []byte(storage.OpsAppID)) {
		t.Errorf("application list shows the hidden application: %s", r.body)
	}
	if r := n.do("GET", "/api/v1/app/"+storage.OpsAppID, nil); r.status != http.StatusNotFound {
		t.Errorf("GET the hidden application: %d, want 404", r.status)
	}
	if r := n.do("GET", "/api/v1/app/"+storage.OpsAppID+"/msg", nil); r.status != http.StatusNotFound {
		t.Errorf("GET the hidden application's messages: %d, want 404", r.status)
	}
	// Application tokens may not reach the operational endpoints.
	var portal struct {
		Token string `json:"token"`
	}
	n.do("POST", "/api/v1/auth/app-portal-access/"+f.app.Id, map[string]any{}).json(t, &portal)
	if r := n.doToken(portal.Token, "GET", "/api/v1/operational-webhook/endpoint", nil); r.status != http.StatusForbidden {
		t.Errorf("app token lists operational endpoints: %d, want 403", r.status)
	}
	if r := n.doToken(portal.Token, "GET", "/api/v1/operational-webhook/endpoint/"+ops.ep.Id+"/secret", nil); r.status != http.StatusForbidden {
		t.Errorf("app token reads an operational secret: %d, want 403", r.status)
	}
	if r := n.do("POST", "/api/v1/operational-webhook/endpoint", map[string]any{"url": rc.URL("/x"), "filterTypes": []string{"job.done"}}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("filterTypes of a non-operational event type: %d, want 422", r.status)
	}
	if r := n.do("PUT", "/api/v1/operational-webhook/endpoint/"+ops.ep.Id, map[string]any{"url": ops.ep.Url, "secret": ops.secret}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("PUT with a secret: %d, want 422", r.status)
	}
	if r := n.do("GET", "/api/v1/operational-webhook/endpoint/ep_none", nil); r.status != http.StatusNotFound {
		t.Errorf("GET an unknown operational endpoint: %d, want 404", r.status)
	}

	// After a rotation, notices carry the new secret's signature and,
	// during the grace period, the old one's.
	if err := n.sdk.OperationalWebhookEndpoint.RotateSecret(ctx(t), ops.ep.Id, models.OperationalWebhookEndpointSecretIn{}, nil); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	sec, err := n.sdk.OperationalWebhookEndpoint.GetSecret(ctx(t), ops.ep.Id)
	if err != nil || sec.Key == ops.secret {
		t.Fatalf("secret after rotation: %+v, %v", sec, err)
	}
	before := ops.count()
	if err := n.sdk.Endpoint.Delete(ctx(t), f.app.Id, f.ep.Id); err != nil {
		t.Fatal(err)
	}
	wh := ops.waitFor(t, before+1)[before]
	verifyWebhook(t, ops.secret, wh)
	verifyWebhook(t, sec.Key, wh)
	var del opsNotice
	if err := json.Unmarshal(wh.Body, &del); err != nil || del.Type != "endpoint.deleted" {
		t.Errorf("notice after the delete: %s", wh.Body)
	}
}

// TestAutoDisableAndRecover: an endpoint failing every attempt for the
// configured window is disabled with an endpoint.disabled notice (trigger
// automatic); re-enabling it sends endpoint.enabled, and recover then
// delivers what failed meanwhile.
func TestAutoDisableAndRecover(t *testing.T) {
	t.Parallel()
	const window = 300 * time.Millisecond
	n := startNode(t, func(c *config.Config) {
		c.Delivery.AutoDisableAfter = config.Duration{Duration: window}
		c.Delivery.RetrySchedule = slices.Repeat([]config.Duration{{Duration: 100 * time.Millisecond}}, 20)
	})
	ops := newOpsReceiver(t, n, models.OperationalWebhookEndpointIn{
		FilterTypes: []string{"endpoint.disabled", "endpoint.enabled", "message.attempt.recovered"},
	})
	rc, down := newSwitchedReceiver(t)
	f := newDeliveryFixture(t, n, rc, models.EndpointIn{})
	start := time.Now().Add(-time.Second)
	m := f.send(t, "job.done", map[string]any{"n": 1})

	dis := ops.waitNotice(t, "endpoint.disabled")
	var dd models.EndpointDisabledEventData
	if err := json.Unmarshal(dis.Data, &dd); err != nil {
		t.Fatal(err)
	}
	if d := f.waitFinal(t, m.Id); d.Status != models.MESSAGESTATUS_FAIL {
		t.Fatalf("delivery status %d, want fail once the endpoint is disabled", d.Status)
	}
	atts := f.attempts(t, m.Id)
	if dd.EndpointId != f.ep.Id || dd.Trigger == nil || *dd.Trigger != models.ENDPOINTDISABLEDTRIGGER_AUTOMATIC ||
		dd.FailSince == nil || !dd.FailSince.Equal(atts[0].Timestamp) {
		t.Errorf("endpoint.disabled data %s, want trigger automatic since the first attempt %v", dis.Data, atts[0].Timestamp)
	}
	lastAt := atts[len(atts)-1].Timestamp
	if lastAt.Sub(atts[0].Timestamp) < window {
		t.Errorf("disabled after failing %v, less than the window %v", lastAt.Sub(atts[0].Timestamp), window)
	}
	ep, err := n.sdk.Endpoint.Get(ctx(t), f.app.Id, f.ep.Id)
	if err != nil || ep.Disabled == nil || !*ep.Disabled {
		t.Fatalf("endpoint after the window: %+v, %v; want disabled", ep, err)
	}
	// Nothing is sent to a disabled endpoint.
	sent := rc.count()

	down.Store(false)
	if _, err := n.sdk.Endpoint.Patch(ctx(t), f.app.Id, f.ep.Id, models.EndpointPatch{Disabled: ptr(false)}); err != nil {
		t.Fatalf("re-enable: %v", err)
	}
	ops.waitNotice(t, "endpoint.enabled")
	if rc.count() != sent {
		t.Errorf("receiver got %d requests after the endpoint was disabled", rc.count()-sent)
	}
	if _, err := n.sdk.Endpoint.Recover(ctx(t), f.app.Id, f.ep.Id, models.RecoverIn{Since: start}, nil); err != nil {
		t.Fatalf("recover: %v", err)
	}
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if d := f.destination(t, m.Id); d.Status != models.MESSAGESTATUS_SUCCESS {
			return fmt.Errorf("after recover: status %d, want success", d.Status)
		}
		return nil
	})
	// The message had failed at least four times before the endpoint was
	// disabled only if the machine was quick; when it had, its success is
	// told as a recovery.
	if len(atts) >= 4 {
		ops.waitNotice(t, "message.attempt.recovered")
	}
	for _, nt := range ops.notices(t) {
		if nt.Type == "endpoint.created" || nt.Type == "message.attempt.failing" {
			t.Errorf("notice %s delivered past the endpoint's filterTypes", nt.Type)
		}
	}
}

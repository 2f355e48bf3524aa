package appliance_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"
	"github.com/svix/svix-webhooks/go/models"

	"github.com/herald-webhooks/herald/config"
)

// deliveryFixture is an app with one endpoint on a receiver.
type deliveryFixture struct {
	n      *testNode
	app    *models.ApplicationOut
	ep     *models.EndpointOut
	secret string
	rc     *receiver
}

func newDeliveryFixture(t *testing.T, n *testNode, rc *receiver, in models.EndpointIn) *deliveryFixture {
	t.Helper()
	app, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: t.Name()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if in.Url == "" {
		in.Url = rc.URL("/webhook")
	}
	ep, err := n.sdk.Endpoint.Create(ctx(t), app.Id, in, nil)
	if err != nil {
		t.Fatalf("create endpoint: %v", err)
	}
	sec, err := n.sdk.Endpoint.GetSecret(ctx(t), app.Id, ep.Id)
	if err != nil {
		t.Fatal(err)
	}
	return &deliveryFixture{n: n, app: app, ep: ep, secret: sec.Key, rc: rc}
}

func (f *deliveryFixture) send(t *testing.T, eventType string, payload map[string]any, channels ...string) *models.MessageOut {
	t.Helper()
	m, err := f.n.sdk.Message.Create(ctx(t), f.app.Id, models.MessageIn{EventType: eventType, Payload: payload, Channels: channels}, nil)
	if err != nil {
		t.Fatalf("create message: %v", err)
	}
	return m
}

// attempts lists a message's attempts, oldest first.
func (f *deliveryFixture) attempts(t *testing.T, msgID string) []models.MessageAttemptOut {
	t.Helper()
	l, err := f.n.sdk.MessageAttempt.ListByMsg(ctx(t), f.app.Id, msgID, &svix.MessageAttemptListByMsgOptions{Limit: ptr(uint64(100))})
	if err != nil {
		t.Fatalf("ListByMsg: %v", err)
	}
	out := slices.Clone(l.Data)
	slices.Reverse(out) // newest first on the wire
	return out
}

// waitAttempts waits until a message has at least n recorded attempts.
func (f *deliveryFixture) waitAttempts(t *testing.T, msgID string, n int) []models.MessageAttemptOut {
	t.Helper()
	var out []models.MessageAttemptOut
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		out = f.attempts(t, msgID)
		if len(out) < n {
			return fmt.Errorf("%d attempts recorded, want %d", len(out), n)
		}
		return nil
	})
	return out
}

// destination returns the message's delivery state towards the fixture's endpoint.
func (f *deliveryFixture) destination(t *testing.T, msgID string) models.MessageEndpointOut {
	t.Helper()
	l, err := f.n.sdk.MessageAttempt.ListAttemptedDestinations(ctx(t), f.app.Id, msgID, nil)
	if err != nil {
		t.Fatalf("ListAttemptedDestinations: %v", err)
	}
	for _, d := range l.Data {
		if d.Id == f.ep.Id {
			return d
		}
	}
	t.Fatalf("endpoint %s not among the message's destinations (%d)", f.ep.Id, len(l.Data))
	return models.MessageEndpointOut{}
}

// waitFinal waits until the delivery to the fixture's endpoint is final
// (success or fail with no attempt pending).
func (f *deliveryFixture) waitFinal(t *testing.T, msgID string) models.MessageEndpointOut {
	t.Helper()
	var d models.MessageEndpointOut
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		d = f.destination(t, msgID)
		if d.NextAttempt != nil || (d.Status != models.MESSAGESTATUS_SUCCESS && d.Status != models.MESSAGESTATUS_FAIL) {
			return fmt.Errorf("delivery status %d (%s), next attempt %v", d.Status, d.StatusText, d.NextAttempt)
		}
		return nil
	})
	return d
}

func TestDeliveryEndToEnd(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	sdk := n.sdk
	for _, name := range []string{"user.created", "invoice.paid"} {
		if _, err := sdk.EventType.Create(ctx(t), models.EventTypeIn{Name: name, Description: name}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Every request gets the same answer: m1 and m2 reach this receiver
	// in either order.
	all := newScriptedReceiver(t, func(int) reply { return reply{Status: http.StatusOK, Body: `{"received":true}`} })
	f := newDeliveryFixture(t, n, all, models.EndpointIn{Headers: &map[string]string{"X-Tenant": "acme"}})
	typed := newReceiver(t)
	typedEp, err := sdk.Endpoint.Create(ctx(t), f.app.Id, models.EndpointIn{Url: typed.URL("/typed"), FilterTypes: []string{"user.created"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	chan1 := newReceiver(t)
	chanEp, err := sdk.Endpoint.Create(ctx(t), f.app.Id, models.EndpointIn{Url: chan1.URL("/chan"), Channels: []string{"project.1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}

	payload := map[string]any{"user": map[string]any{"id": "u_1", "name": "Zoë"}, "n": 42}
	m1 := f.send(t, "user.created", payload)
	m2 := f.send(t, "invoice.paid", map[string]any{"invoice": "in_1"}, "project.1")

	// Routing is decided at commit: the destinations are known at once.
	dests := func(msgID string) []string {
		l, err := sdk.MessageAttempt.ListAttemptedDestinations(ctx(t), f.app.Id, msgID, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := ids(l.Data, func(d models.MessageEndpointOut) string { return d.Id })
		slices.Sort(got)
		return got
	}
	want1 := []string{f.ep.Id, typedEp.Id}
	slices.Sort(want1)
	want2 := []string{f.ep.Id, chanEp.Id}
	slices.Sort(want2)
	if got := dests(m1.Id); !slices.Equal(got, want1) {
		t.Errorf("user.created without channel goes to %v, want %v", got, want1)
	}
	if got := dests(m2.Id); !slices.Equal(got, want2) {
		t.Errorf("invoice.paid on project.1 goes to %v, want %v", got, want2)
	}

	got := all.waitFor(t, 2)
	typed.waitFor(t, 1)
	chan1.waitFor(t, 1)
	f.waitFinal(t, m1.Id)
	f.waitFinal(t, m2.Id)

	// Each receiver got exactly what its filters allow.
	if len(all.webhooks()) != 2 || len(typed.webhooks()) != 1 || len(chan1.webhooks()) != 1 {
		t.Errorf("deliveries: all=%d typed=%d channel=%d, want 2, 1, 1", all.count(), typed.count(), chan1.count())
	}
	if id := typed.webhooks()[0].Header.Get("webhook-id"); id != m1.Id {
		t.Errorf("typed endpoint got %s, want %s", id, m1.Id)
	}
	if id := chan1.webhooks()[0].Header.Get("webhook-id"); id != m2.Id {
		t.Errorf("channel endpoint got %s, want %s", id, m2.Id)
	}

	byID := map[string]webhook{}
	for _, wh := range got {
		byID[wh.Header.Get("webhook-id")] = wh
	}
	wh, ok := byID[m1.Id]
	if !ok {
		t.Fatalf("no delivery with webhook-id %s among %v", m1.Id, got)
	}
	verifyWebhook(t, f.secret, wh)
	ts, err := strconv.ParseInt(wh.Header.Get("webhook-timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
		t.Errorf("webhook-timestamp %q is not now", wh.Header.Get("webhook-timestamp"))
	}
	if !strings.HasPrefix(wh.Header.Get("webhook-signature"), "v1,") {
		t.Errorf("webhook-signature %q", wh.Header.Get("webhook-signature"))
	}
	if wh.Header.Get("X-Tenant") != "acme" {
		t.Errorf("custom header X-Tenant = %q", wh.Header.Get("X-Tenant"))
	}
	if ct := wh.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content-type %q", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(wh.Body, &body); err != nil {
		t.Fatalf("delivered body is not JSON: %s", wh.Body)
	}
	if fmt.Sprint(body) != fmt.Sprint(map[string]any{"user": map[string]any{"id": "u_1", "name": "Zoë"}, "n": float64(42)}) {
		t.Errorf("delivered body %s", wh.Body)
	}
	verifyWebhook(t, f.secret, byID[m2.Id])
	// Other endpoints' deliveries verify with their own secrets.
	typedSec, err := sdk.Endpoint.GetSecret(ctx(t), f.app.Id, typedEp.Id)
	if err != nil {
		t.Fatal(err)
	}
	verifyWebhook(t, typedSec.Key, typed.webhooks()[0])

	// Attempts by message.
	ats := f.waitAttempts(t, m1.Id, 2) // one per destination
	var mine *models.MessageAttemptOut
	for i := range ats {
		if ats[i].EndpointId == f.ep.Id {
			mine = &ats[i]
		}
	}
	if mine == nil {
		t.Fatalf("no attempt for endpoint %s: %+v", f.ep.Id, ats)
	}
	if mine.MsgId != m1.Id || mine.ResponseStatusCode != 200 || mine.Response != `{"received":true}` ||
		mine.Status != models.MESSAGESTATUS_SUCCESS || mine.StatusText != "success" ||
		mine.TriggerType != models.MESSAGEATTEMPTTRIGGERTYPE_SCHEDULED || mine.Url != f.ep.Url || !strings.HasPrefix(mine.Id, "atmpt_") {
		t.Errorf("attempt = %+v", *mine)
	}
	one, err := sdk.MessageAttempt.Get(ctx(t), f.app.Id, m1.Id, mine.Id, nil)
	if err != nil || one.Id != mine.Id || one.ResponseStatusCode != 200 {
		t.Errorf("MessageAttempt.Get = %+v, %v", one, err)
	}

	// Attempts by endpoint: both messages, newest first, with_msg.
	byEp, err := sdk.MessageAttempt.ListByEndpoint(ctx(t), f.app.Id, f.ep.Id, &svix.MessageAttemptListByEndpointOptions{WithMsg: ptr(true)})
	if err != nil {
		t.Fatalf("ListByEndpoint: %v", err)
	}
	if len(byEp.Data) != 2 {
		t.Fatalf("ListByEndpoint: %d attempts, want 2", len(byEp.Data))
	}
	for _, at := range byEp.Data {
		if at.EndpointId != f.ep.Id || at.Status != models.MESSAGESTATUS_SUCCESS || at.ResponseStatusCode != 200 || at.Url != f.ep.Url {
			t.Errorf("ListByEndpoint attempt = %+v", at)
		}
		if at.Msg == nil || at.Msg.Id != at.MsgId {
			t.Errorf("with_msg: msg = %+v for %s", at.Msg, at.MsgId)
		}
	}
	// Newest attempt first. The two deliveries ran concurrently, so which
	// message's attempt is newer is not fixed.
	if byEp.Data[0].Timestamp.Before(byEp.Data[1].Timestamp) {
		t.Errorf("ListByEndpoint is not newest first: %v then %v", byEp.Data[0].Timestamp, byEp.Data[1].Timestamp)
	}
	if gotMsgs := []string{byEp.Data[0].MsgId, byEp.Data[1].MsgId}; !slices.Contains(gotMsgs, m1.Id) || !slices.Contains(gotMsgs, m2.Id) {
		t.Errorf("ListByEndpoint messages %v, want %s and %s", gotMsgs, m1.Id, m2.Id)
	}
	failed, err := sdk.MessageAttempt.ListByEndpoint(ctx(t), f.app.Id, f.ep.Id, &svix.MessageAttemptListByEndpointOptions{Status: ptr(models.MESSAGESTATUS_FAIL)})
	if err != nil || len(failed.Data) != 0 {
		t.Errorf("ListByEndpoint status=fail: %d attempts, %v", len(failed.Data), err)
	}

	// Destinations show success; attempted messages list both.
	d := f.destination(t, m1.Id)
	if d.Status != models.MESSAGESTATUS_SUCCESS || d.StatusText != "success" || d.Url != f.ep.Url {
		t.Errorf("destination = %+v", d)
	}
	msgs, err := sdk.MessageAttempt.ListAttemptedMessages(ctx(t), f.app.Id, f.ep.Id, nil)
	if err != nil {
		t.Fatalf("ListAttemptedMessages: %v", err)
	}
	if got := ids(msgs.Data, func(m models.EndpointMessageOut) string { return m.Id }); !slices.Equal(got, []string{m2.Id, m1.Id}) {
		t.Errorf("ListAttemptedMessages = %v, want [%s %s]", got, m2.Id, m1.Id)
	}
	for _, m := range msgs.Data {
		if m.Status != models.MESSAGESTATUS_SUCCESS || m.StatusText != "success" {
			t.Errorf("attempted message %s status %d %s", m.Id, m.Status, m.StatusText)
		}
	}
	typedMsgs, err := sdk.MessageAttempt.ListAttemptedMessages(ctx(t), f.app.Id, typedEp.Id, nil)
	if err != nil || len(typedMsgs.Data) != 1 || typedMsgs.Data[0].Id != m1.Id {
		t.Errorf("typed endpoint's attempted messages = %+v, %v", typedMsgs, err)
	}
}

func TestRetryUntilSuccess(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	rc := newReceiver(t,
		reply{Status: http.StatusInternalServerError, Body: "boom 1"},
		reply{Status: http.StatusInternalServerError, Body: "boom 2"},
		reply{Status: http.StatusOK, Body: "finally"},
	)
	f := newDeliveryFixture(t, n, rc, models.EndpointIn{})
	m := f.send(t, "job.completed", map[string]any{"job": 7})

	got := rc.waitFor(t, 3)
	d := f.waitFinal(t, m.Id)
	if d.Status != models.MESSAGESTATUS_SUCCESS {
		t.Errorf("final delivery status %d (%s), want success", d.Status, d.StatusText)
	}
	for i, wh := range got {
		if id := wh.Header.Get("webhook-id"); id != m.Id {
			t.Errorf("attempt %d webhook-id %q, want the message id %s", i+1, id, m.Id)
		}
		verifyWebhook(t, f.secret, wh)
	}
	// The schedule (100ms, then 200ms) spaced the attempts.
	if gap := got[1].At.Sub(got[0].At); gap < 80*time.Millisecond {
		t.Errorf("first retry after %v, schedule says 100ms", gap)
	}
	if gap := got[2].At.Sub(got[1].At); gap < 160*time.Millisecond {
		t.Errorf("second retry after %v, schedule says 200ms", gap)
	}

	ats := f.waitAttempts(t, m.Id, 3)
	if len(ats) != 3 {
		t.Fatalf("%d attempts, want 3", len(ats))
	}
	wantCodes := []int16{500, 500, 200}
	wantStatus := []models.MessageStatus{models.MESSAGESTATUS_FAIL, models.MESSAGESTATUS_FAIL, models.MESSAGESTATUS_SUCCESS}
	wantBody := []string{"boom 1", "boom 2", "finally"}
	for i, at := range ats {
		if at.ResponseStatusCode != wantCodes[i] || at.Status != wantStatus[i] || at.Response != wantBody[i] ||
			at.TriggerType != models.MESSAGEATTEMPTTRIGGERTYPE_SCHEDULED {
			t.Errorf("attempt %d = code %d status %d response %q trigger %d; want %d %d %q 0",
				i+1, at.ResponseStatusCode, at.Status, at.Response, at.TriggerType, wantCodes[i], wantStatus[i], wantBody[i])
		}
	}
	failed, err := n.sdk.MessageAttempt.ListByMsg(ctx(t), f.app.Id, m.Id, &svix.MessageAttemptListByMsgOptions{Status: ptr(models.MESSAGESTATUS_FAIL)})
	if err != nil || len(failed.Data) != 2 {
		t.Errorf("ListByMsg status=fail: %d, %v; want 2", len(failed.Data), err)
	}
	class := models.STATUSCODECLASS_CODE5XX
	fiveXX, err := n.sdk.MessageAttempt.ListByMsg(ctx(t), f.app.Id, m.Id, &svix.MessageAttemptListByMsgOptions{StatusCodeClass: &class})
	if err != nil || len(fiveXX.Data) != 2 {
		t.Errorf("ListByMsg status_code_class=500: %d, %v; want 2", len(fiveXX.Data), err)
	}

	// Resend makes a manual attempt with the same webhook-id.
	if _, err := n.sdk.MessageAttempt.Resend(ctx(t), f.app.Id, m.Id, f.ep.Id, nil); err != nil {
		t.Fatalf("Resend: %v", err)
	}
	got = rc.waitFor(t, 4)
	if id := got[3].Header.Get("webhook-id"); id != m.Id {
		t.Errorf("resend webhook-id %q, want %s", id, m.Id)
	}
	verifyWebhook(t, f.secret, got[3])
	ats = f.waitAttempts(t, m.Id, 4)
	last := ats[len(ats)-1]
	if last.TriggerType != models.MESSAGEATTEMPTTRIGGERTYPE_MANUAL || last.Status != models.MESSAGESTATUS_SUCCESS || last.ResponseStatusCode != 200 {
		t.Errorf("resend attempt = trigger %d status %d code %d; want manual success 200", last.TriggerType, last.Status, last.ResponseStatusCode)
	}
	if d := f.waitFinal(t, m.Id); d.Status != models.MESSAGESTATUS_SUCCESS {
		t.Errorf("status after resend %d", d.Status)
	}
	if rc.count() != 4 {
		t.Errorf("receiver got %d requests, want 4", rc.count())
	}
}

func TestRetriesExhausted(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	rc := newScriptedReceiver(t, func(int) reply { return reply{Status: http.StatusBadRequest, Body: "no"} })
	f := newDeliveryFixture(t, n, rc, models.EndpointIn{})
	m := f.send(t, "job.failed", map[string]any{"job": 1})
	d := f.waitFinal(t, m.Id)
	if d.Status != models.MESSAGESTATUS_FAIL {
		t.Errorf("final status %d, want fail", d.Status)
	}
	// First attempt plus one per schedule entry, then nothing more.
	ats := f.attempts(t, m.Id)
	if len(ats) != 1+len(n.cfg.Delivery.RetrySchedule) || rc.count() != len(ats) {
		t.Errorf("%d attempts recorded, receiver got %d; want %d", len(ats), rc.count(), 1+len(n.cfg.Delivery.RetrySchedule))
	}
	ep, err := n.sdk.Endpoint.Get(ctx(t), f.app.Id, f.ep.Id)
	if err != nil || (ep.Disabled != nil && *ep.Disabled) {
		t.Errorf("a 400 disabled the endpoint: %+v, %v", ep, err)
	}
}

func TestGoneDisablesEndpoint(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	rc := newScriptedReceiver(t, func(int) reply { return reply{Status: http.StatusGone, Body: "gone"} })
	f := newDeliveryFixture(t, n, rc, models.EndpointIn{})
	m := f.send(t, "job.completed", map[string]any{"job": 1})

	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		ep, err := n.sdk.Endpoint.Get(ctx(t), f.app.Id, f.ep.Id)
		if err != nil {
			return err
		}
		if ep.Disabled == nil || !*ep.Disabled {
			return errors.New("endpoint not disabled yet")
		}
		return nil
	})
	d := f.waitFinal(t, m.Id)
	if d.Status != models.MESSAGESTATUS_FAIL || d.Disabled == nil || !*d.Disabled {
		t.Errorf("destination after 410 = status %d disabled %v", d.Status, d.Disabled)
	}
	ats := f.attempts(t, m.Id)
	if len(ats) != 1 || ats[0].ResponseStatusCode != 410 || ats[0].Status != models.MESSAGESTATUS_FAIL {
		t.Errorf("attempts after 410: %+v", ats)
	}

	// A later message is not routed to the disabled endpoint at all.
	m2 := f.send(t, "job.completed", map[string]any{"job": 2})
	l, err := n.sdk.MessageAttempt.ListAttemptedDestinations(ctx(t), f.app.Id, m2.Id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Data) != 0 {
		t.Errorf("message after disabling has destinations %v", ids(l.Data, func(d models.MessageEndpointOut) string { return d.Id }))
	}
	if c := rc.count(); c != 1 {
		t.Errorf("receiver got %d requests after 410, want 1", c)
	}
}

func TestRedirectIsFailure(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	target := newReceiver(t)
	rc := newScriptedReceiver(t, func(int) reply {
		return reply{Status: http.StatusFound, Header: map[string]string{"Location": target.URL("/elsewhere")}, Body: "moved"}
	})
	f := newDeliveryFixture(t, n, rc, models.EndpointIn{})
	m := f.send(t, "job.completed", map[string]any{"job": 1})

	d := f.waitFinal(t, m.Id)
	if d.Status != models.MESSAGESTATUS_FAIL {
		t.Errorf("final status %d after redirects, want fail", d.Status)
	}
	ats := f.attempts(t, m.Id)
	if len(ats) != 1+len(n.cfg.Delivery.RetrySchedule) {
		t.Errorf("%d attempts, want %d", len(ats), 1+len(n.cfg.Delivery.RetrySchedule))
	}
	for i, at := range ats {
		if at.ResponseStatusCode != http.StatusFound || at.Status != models.MESSAGESTATUS_FAIL || at.Url != f.ep.Url {
			t.Errorf("attempt %d = code %d status %d url %s", i+1, at.ResponseStatusCode, at.Status, at.Url)
		}
	}
	if c := target.count(); c != 0 {
		t.Errorf("the redirect target was hit %d times", c)
	}
	ep, err := n.sdk.Endpoint.Get(ctx(t), f.app.Id, f.ep.Id)
	if err != nil || (ep.Disabled != nil && *ep.Disabled) {
		t.Errorf("redirects disabled the endpoint: %+v, %v", ep, err)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	// 503 with Retry-After: 2 stretches the 100ms retry to two seconds; a
	// 500 with the same header does not (Herald honours it only for 429,
	// 502, 503, 504).
	rc503 := newReceiver(t, reply{Status: http.StatusServiceUnavailable, Header: map[string]string{"Retry-After": "2"}})
	rc500 := newReceiver(t, reply{Status: http.StatusInternalServerError, Header: map[string]string{"Retry-After": "2"}})
	f503 := newDeliveryFixture(t, n, rc503, models.EndpointIn{})
	f500 := newDeliveryFixture(t, n, rc500, models.EndpointIn{})
	m503 := f503.send(t, "job.completed", map[string]any{"job": 1})
	m500 := f500.send(t, "job.completed", map[string]any{"job": 2})

	got503 := rc503.waitFor(t, 2)
	got500 := rc500.waitFor(t, 2)
	if gap := got503[1].At.Sub(got503[0].At); gap < 1900*time.Millisecond {
		t.Errorf("retry after a 503 with Retry-After: 2 came after %v, want >= 2s", gap)
	}
	if gap := got500[1].At.Sub(got500[0].At); gap > 1500*time.Millisecond {
		t.Errorf("retry after a 500 came after %v, want the 100ms schedule", gap)
	}
	for _, c := range []struct {
		f  *deliveryFixture
		id string
	}{{f503, m503.Id}, {f500, m500.Id}} {
		if d := c.f.waitFinal(t, c.id); d.Status != models.MESSAGESTATUS_SUCCESS {
			t.Errorf("final status %d, want success", d.Status)
		}
	}
}

func TestSlowReceiverTimesOut(t *testing.T) {
	t.Parallel()
	n := startNode(t, func(c *config.Config) {
		c.Delivery.RequestTimeout = config.Duration{Duration: 300 * time.Millisecond}
	})
	rc := newReceiver(t, reply{Status: http.StatusOK, Delay: 5 * time.Second})
	f := newDeliveryFixture(t, n, rc, models.EndpointIn{})
	m := f.send(t, "job.completed", map[string]any{"job": 1})

	d := f.waitFinal(t, m.Id)
	if d.Status != models.MESSAGESTATUS_SUCCESS {
		t.Errorf("final status %d, want success after the retry", d.Status)
	}
	ats := f.attempts(t, m.Id)
	if len(ats) != 2 {
		t.Fatalf("%d attempts, want 2", len(ats))
	}
	if ats[0].Status != models.MESSAGESTATUS_FAIL || ats[0].ResponseStatusCode != 0 {
		t.Errorf("timed-out attempt = status %d code %d; want fail, no status code", ats[0].Status, ats[0].ResponseStatusCode)
	}
	if ats[0].ResponseDurationMs < 250 || ats[0].ResponseDurationMs > 3000 {
		t.Errorf("timed-out attempt took %dms, timeout is 300ms", ats[0].ResponseDurationMs)
	}
	if ats[1].Status != models.MESSAGESTATUS_SUCCESS || ats[1].ResponseStatusCode != 200 {
		t.Errorf("second attempt = status %d code %d", ats[1].Status, ats[1].ResponseStatusCode)
	}
}

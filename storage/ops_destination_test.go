package storage

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDestinationID(t *testing.T) {
	id := DestinationID("app_1", "https://hooks.example.com/job/1")
	if !strings.HasPrefix(id, PrefixDestination) || len(id) != len(PrefixDestination)+26 || !IsDestination(id) {
		t.Fatalf("DestinationID = %q", id)
	}
	// One origin, one id: the path, query, case of the host and an
	// explicit default port do not matter.
	for _, u := range []string{"https://HOOKS.example.com/job/2?x=1", "https://hooks.example.com:443/", "https://hooks.example.com."} {
		if got := DestinationID("app_1", u); got != id {
			t.Errorf("DestinationID(%q) = %q, want %q", u, got, id)
		}
	}
	// Another app, scheme, port or host is another destination.
	for _, c := range [][2]string{
		{"app_2", "https://hooks.example.com/job/1"},
		{"app_1", "http://hooks.example.com/job/1"},
		{"app_1", "https://hooks.example.com:8443/job/1"},
		{"app_1", "https://other.example.com/job/1"},
	} {
		if got := DestinationID(c[0], c[1]); got == id {
			t.Errorf("DestinationID(%q, %q) = the same id", c[0], c[1])
		}
	}
	if IsDestination("ep_1") || IsDestination(DeliveryID("msg_1", id)) {
		t.Error("IsDestination accepts other ids")
	}
}

// oneOffMessage is a message of tApp naming a one-off destination.
func oneOffMessage(id string, ts int64) Message {
	u := "https://hooks.example.com/job/" + id
	return Message{ID: id, AppID: tApp, EventType: "user.created", Payload: []byte(`{"n":1}`), Timestamp: ts,
		Destination: Destination{ID: DestinationID(tApp, u), URL: u}}
}

func TestCreateMessageOneOffDestination(t *testing.T) {
	s := fanoutStore(t)
	mustApply(t, s, func(tx *Tx) error {
		a, err := tx.getApp(tApp)
		if err != nil {
			return err
		}
		a.Policy = Policy{AttemptTimeoutMs: 5000, NoRetries: true}
		return tx.UpdateApp(a)
	})
	const ts = 1_700_000_000_000_000_000
	m := oneOffMessage(tMsg, ts)
	dst := m.Destination.ID
	var fanout int
	mustApply(t, s, func(tx *Tx) (err error) {
		fanout, _, err = tx.CreateMessage(NewMessage{Message: m, PayloadExpiresMs: ts/1e6 + 1000})
		return err
	})
	// The endpoints matching user.created, and the destination.
	if fanout != 3 {
		t.Fatalf("fanout = %d, want 3", fanout)
	}
	dl, err := getDelivery(t, s, tApp, tMsg, dst)
	want := Delivery{AppID: tApp, MsgID: tMsg, EndpointID: dst, Status: StatusPending, NextAttempt: ts,
		Policy: Policy{AttemptTimeoutMs: 5000, NoRetries: true}}
	if err != nil || !reflect.DeepEqual(dl, want) {
		t.Fatalf("one-off delivery = %+v, %v; want %+v (the app's policy)", dl, err, want)
	}
	kv := dumpState(t, s)
	for _, k := range []string{string(epMsgKey(tApp, dst, tMsg)), string(ScheduleKey{DueMs: ts / 1e6, MsgID: tMsg, EndpointID: dst}.Bytes())} {
		if _, ok := kv[k]; !ok {
			t.Errorf("key %q not written", k)
		}
	}
	var stored Message
	var eps Page[Endpoint]
	view(t, s, func(r *Reader) (err error) {
		if stored, err = r.Message(tApp, tMsg); err != nil {
			return err
		}
		if r.CountEndpoints(tApp) != 5 {
			t.Errorf("CountEndpoints = %d, want the 5 endpoints only", r.CountEndpoints(tApp))
		}
		eps, err = r.ListEndpoints(tApp, ListOptions{Limit: 100})
		return err
	})
	if !reflect.DeepEqual(stored, m) {
		t.Errorf("stored message = %+v, want %+v", stored, m)
	}
	for _, ep := range eps.Items {
		if IsDestination(ep.ID) {
			t.Errorf("endpoint list holds the one-off destination %s", ep.ID)
		}
	}
	// The destination is among the deliveries whose payload expiry waits.
	for k, v := range kv {
		if strings.HasPrefix(k, pPayloadExp) {
			var ids []string
			_ = decodeInto([]byte(v), func(d *Decoder) { ids = d.Strings() })
			if !slices.Contains(ids, dst) {
				t.Errorf("payload expiry entry lists %q, not the destination", ids)
			}
		}
	}
}

func TestResendAndRecoverOneOffDestination(t *testing.T) {
	s := fanoutStore(t)
	const ts = 1_700_000_000_000_000_000
	tMsg := boundID(PrefixMessage, time.Unix(0, ts), false) // Recover seeks by the time in the id
	m := oneOffMessage(tMsg, ts)
	dst := m.Destination.ID
	mustApply(t, s, func(tx *Tx) (err error) { _, _, err = tx.CreateMessage(NewMessage{Message: m}); return err })
	mustApply(t, s, func(tx *Tx) error {
		tx.RecordOutcome(Outcome{Key: ScheduleKey{DueMs: ts / 1e6, MsgID: tMsg, EndpointID: dst}, AttemptNo: 1,
			Attempt: Attempt{ID: "atmpt_1", AppID: tApp, MsgID: tMsg, EndpointID: dst, Timestamp: ts, URL: m.Destination.URL, StatusCode: 500, Status: StatusFail},
			Final:   StatusFail})
		return nil
	})
	if dl, _ := getDelivery(t, s, tApp, tMsg, dst); dl.Status != StatusFail {
		t.Fatalf("delivery after its last attempt failed: %+v", dl)
	}
	// Another destination id, or an endpoint the app lacks, is not the
	// message's.
	for _, other := range []string{DestinationID(tApp, "https://elsewhere.example.com/"), "ep_missing"} {
		if err := applyTx(t, s, func(tx *Tx) error { return tx.Resend(tApp, tMsg, other, 1) }); !errors.Is(err, ErrNotFound) {
			t.Errorf("Resend to %s = %v, want ErrNotFound", other, err)
		}
	}
	var n int
	mustApply(t, s, func(tx *Tx) error {
		n, _ = tx.Recover(tApp, dst, ts-1e9, ts+1e9, "", 100, ts/1e6+10)
		return nil
	})
	if n != 1 {
		t.Fatalf("Recover re-queued %d, want 1", n)
	}
	dl, _ := getDelivery(t, s, tApp, tMsg, dst)
	if dl.Status != StatusPending || dl.NextAttempt != (ts/1e6+10)*1e6 || dl.Attempts != 1 {
		t.Fatalf("delivery after recover: %+v", dl)
	}
	var attempts Page[Attempt]
	view(t, s, func(r *Reader) (err error) {
		attempts, err = r.ListAttemptsByEndpoint(tApp, dst, AttemptFilter{}, ListOptions{Limit: 10})
		return err
	})
	if len(attempts.Items) != 1 || attempts.Items[0].URL != m.Destination.URL {
		t.Fatalf("attempts to the destination: %+v", attempts.Items)
	}
}

func TestPurgeCoversOneOffDeliveries(t *testing.T) {
	s := openTestStore(t, "")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := []string{boundID("msg_", base, false), boundID("msg_", base.Add(time.Minute), false)}
	mustApply(t, s, func(tx *Tx) error {
		if err := tx.CreateApp(testApp(tApp, "")); err != nil {
			return err
		}
		for i, id := range ids {
			ts := base.Add(time.Duration(i) * time.Minute).UnixNano()
			nm := NewMessage{Message: oneOffMessage(id, ts), PayloadExpiresMs: ts/1e6 + 1000}
			if _, _, err := tx.CreateMessage(nm); err != nil {
				return err
			}
		}
		return nil
	})
	// The first is delivered, the second still pending.
	m0 := oneOffMessage(ids[0], base.UnixNano())
	mustApply(t, s, func(tx *Tx) error {
		tx.RecordOutcome(Outcome{Key: ScheduleKey{DueMs: base.UnixMilli(), MsgID: ids[0], EndpointID: m0.Destination.ID}, AttemptNo: 1,
			Attempt: Attempt{ID: "atmpt_" + ids[0][4:], AppID: tApp, MsgID: ids[0], EndpointID: m0.Destination.ID, Timestamp: base.UnixNano(), StatusCode: 200, Status: StatusSuccess},
			Final:   StatusSuccess})
		return nil
	})
	now := base.Add(time.Hour)
	mustApply(t, s, func(tx *Tx) error { tx.ExpirePayloads(now.UnixMilli(), 100); return nil })
	view(t, s, func(r *Reader) error {
		for i, id := range ids {
			m, err := r.Message(tApp, id)
			if err != nil {
				return err
			}
			if pending := i == 1; pending != (len(m.Payload) > 0) {
				t.Errorf("message %d: payload %q (pending one-off delivery: %v)", i, m.Payload, pending)
			}
			if want := oneOffMessage(id, m.Timestamp).Destination; m.Destination != want {
				t.Errorf("message %d: destination %+v after payload expiry, want %+v", i, m.Destination, want)
			}
		}
		return nil
	})
	var n int
	mustApply(t, s, func(tx *Tx) error { n, _ = tx.PurgeMessages(now.UnixNano(), "", 100); return nil })
	if n != 1 {
		t.Fatalf("purged %d, want 1", n)
	}
	for k := range dumpKV(t, s) {
		if strings.HasPrefix(k, pExpiry) || strings.HasPrefix(k, pPayloadExp) {
			continue
		}
		if strings.Contains(k, ids[0]) || strings.Contains(k, "atmpt_"+ids[0][4:]) {
			t.Errorf("key %q of the purged message is left", k)
		}
	}
}

func TestAppSecret(t *testing.T) {
	s := openTestStore(t, "")
	mustApply(t, s, func(tx *Tx) error { return tx.CreateApp(testApp(tApp, "")) })
	app := func() App {
		var a App
		view(t, s, func(r *Reader) (err error) { a, err = r.App(tApp); return err })
		return a
	}
	// A first secret for an app without one; a second ifAbsent is a no-op.
	mustApply(t, s, func(tx *Tx) error { return tx.SetAppSecret(tApp, "sealed-1", nil, true, 5) })
	mustApply(t, s, func(tx *Tx) error { return tx.SetAppSecret(tApp, "sealed-2", nil, true, 6) })
	if a := app(); a.Secret != "sealed-1" || a.UpdatedAt != 5 {
		t.Fatalf("after ensure twice: secret %q updated %d", a.Secret, a.UpdatedAt)
	}
	// A rotation replaces it and keeps what it is given.
	prev := []PrevSecret{{Secret: "sealed-1", ExpiresAt: 99}}
	mustApply(t, s, func(tx *Tx) error { return tx.SetAppSecret(tApp, "sealed-3", prev, false, 7) })
	// An update of the app (which carries no secret) keeps them.
	mustApply(t, s, func(tx *Tx) error {
		a := testApp(tApp, "")
		a.Name = "renamed"
		return tx.UpdateApp(a)
	})
	if a := app(); a.Secret != "sealed-3" || !reflect.DeepEqual(a.PrevSecrets, prev) || a.Name != "renamed" {
		t.Fatalf("after rotate and update: %+v", a)
	}
	if err := applyTx(t, s, func(tx *Tx) error { return tx.SetAppSecret("app_missing", "x", nil, true, 1) }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetAppSecret of a missing app = %v", err)
	}
}

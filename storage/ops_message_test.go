package storage

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"
)

func TestEndpointMatches(t *testing.T) {
	tests := []struct {
		name string
		ep   Endpoint
		msg  Message
		want bool
	}{
		{"no filters", Endpoint{}, Message{EventType: "a"}, true},
		{"disabled", Endpoint{Disabled: true}, Message{EventType: "a"}, false},
		{"type listed", Endpoint{FilterTypes: []string{"b", "a"}}, Message{EventType: "a"}, true},
		{"type not listed", Endpoint{FilterTypes: []string{"b"}}, Message{EventType: "a"}, false},
		{"channel shared", Endpoint{Channels: []string{"x", "y"}}, Message{Channels: []string{"z", "y"}}, true},
		{"channel not shared", Endpoint{Channels: []string{"x"}}, Message{Channels: []string{"y"}}, false},
		{"channels required, message has none", Endpoint{Channels: []string{"x"}}, Message{}, false},
		{"message channels, endpoint takes all", Endpoint{}, Message{Channels: []string{"x"}}, true},
		{"both match", Endpoint{FilterTypes: []string{"a"}, Channels: []string{"x"}}, Message{EventType: "a", Channels: []string{"x"}}, true},
		{"type matches, channel does not", Endpoint{FilterTypes: []string{"a"}, Channels: []string{"x"}}, Message{EventType: "a", Channels: []string{"y"}}, false},
		{"disabled though matching", Endpoint{Disabled: true, FilterTypes: []string{"a"}}, Message{EventType: "a"}, false},
	}
	for _, tc := range tests {
		if got := tc.ep.Matches(&tc.msg); got != tc.want {
			t.Errorf("%s: Matches = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// fanoutStore is an app with endpoints that filter differently.
func fanoutStore(t *testing.T) *Store {
	t.Helper()
	s := openTestStore(t, "")
	mustApply(t, s, func(tx *Tx) error {
		eps := []Endpoint{
			{ID: "ep_1all"},
			{ID: "ep_2disabled", Disabled: true},
			{ID: "ep_3type", FilterTypes: []string{"user.created"}},
			{ID: "ep_4chan", Channels: []string{"eu", "us"}},
			{ID: "ep_5both", FilterTypes: []string{"user.created"}, Channels: []string{"eu"}},
		}
		if err := tx.CreateApp(testApp(tApp, "")); err != nil {
			return err
		}
		if err := tx.CreateApp(testApp(tApp2, "")); err != nil {
			return err
		}
		for _, ep := range eps {
			ep.AppID = tApp
			if err := tx.CreateEndpoint(ep); err != nil {
				return err
			}
		}
		return nil
	})
	return s
}

func TestCreateMessageFanout(t *testing.T) {
	const ts = 1_700_000_000_000_000_000 // ns
	tests := []struct {
		name    string
		msg     Message
		wantEps []string
		wantDue int64 // ms
	}{
		{"type, no channels", Message{EventType: "user.created"}, []string{"ep_1all", "ep_3type"}, ts / 1e6},
		{"other type, channel us", Message{EventType: "user.deleted", Channels: []string{"us"}}, []string{"ep_1all", "ep_4chan"}, ts / 1e6},
		{"type and channel eu", Message{EventType: "user.created", Channels: []string{"eu"}}, []string{"ep_1all", "ep_3type", "ep_4chan", "ep_5both"}, ts / 1e6},
		{"unknown channel", Message{EventType: "x", Channels: []string{"asia"}}, []string{"ep_1all"}, ts / 1e6},
		{"deliver later", Message{EventType: "x", DeliverAt: ts + 60e9}, []string{"ep_1all"}, ts/1e6 + 60_000},
		{"deliver at in the past", Message{EventType: "x", DeliverAt: ts - 60e9}, []string{"ep_1all"}, ts / 1e6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := fanoutStore(t)
			m := tc.msg
			m.ID, m.AppID, m.Timestamp, m.Payload = tMsg, tApp, ts, []byte(`{"n":1}`)
			b, err := s.Begin()
			if err != nil {
				t.Fatal(err)
			}
			var fanout int
			var existing string
			aerr := b.Apply(s.AppliedIndex()+1, func(tx *Tx) (err error) {
				fanout, existing, err = tx.CreateMessage(NewMessage{Message: m})
				return err
			})
			minDue := b.MinDue()
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			if aerr != nil || existing != "" || fanout != len(tc.wantEps) {
				t.Fatalf("CreateMessage = %d, %q, %v; want %d", fanout, existing, aerr, len(tc.wantEps))
			}
			if minDue != tc.wantDue {
				t.Errorf("MinDue = %d, want %d", minDue, tc.wantDue)
			}
			kv := dumpState(t, s)
			var wantDl, wantEpMsg, wantSched []string
			for _, ep := range tc.wantEps {
				wantDl = append(wantDl, string(deliveryKey(tApp, tMsg, ep)))
				wantEpMsg = append(wantEpMsg, string(epMsgKey(tApp, ep, tMsg)))
				wantSched = append(wantSched, string(ScheduleKey{DueMs: tc.wantDue, MsgID: tMsg, EndpointID: ep}.Bytes()))
				dl, err := getDelivery(t, s, tApp, tMsg, ep)
				want := Delivery{AppID: tApp, MsgID: tMsg, EndpointID: ep, Status: StatusPending, NextAttempt: max(ts, m.DeliverAt)}
				if err != nil || !reflect.DeepEqual(dl, want) {
					t.Errorf("delivery to %s = %+v, %v; want %+v", ep, dl, err, want)
				}
				var due Due
				if err := decodeInto([]byte(kv[wantSched[len(wantSched)-1]]), due.Decode); err != nil || !reflect.DeepEqual(due, Due{AppID: tApp, Attempt: 1}) {
					t.Errorf("due of %s = %+v, %v", ep, due, err)
				}
			}
			slices.Sort(wantSched)
			for _, c := range []struct {
				prefix string
				want   []string
			}{{pDelivery, wantDl}, {pEpMsg, wantEpMsg}, {pSchedule, wantSched}} {
				if got := keysWithPrefix(kv, c.prefix); !slices.Equal(got, c.want) {
					t.Errorf("%s keys = %q, want %q", c.prefix, got, c.want)
				}
			}
			var stored Message
			view(t, s, func(r *Reader) (err error) { stored, err = r.Message(tApp, tMsg); return err })
			if !reflect.DeepEqual(stored, m) {
				t.Errorf("stored message = %+v, want %+v", stored, m)
			}
		})
	}
}

func TestCreateMessageWithoutEndpoints(t *testing.T) {
	s := fanoutStore(t)
	m := Message{ID: tMsg, AppID: tApp2, EventType: "a", Timestamp: 5e9}
	var fanout int
	mustApply(t, s, func(tx *Tx) (err error) { fanout, _, err = tx.CreateMessage(NewMessage{Message: m}); return err })
	if fanout != 0 {
		t.Fatalf("fanout = %d, want 0", fanout)
	}
	kv := dumpState(t, s)
	if _, ok := kv[string(messageKey(tApp2, tMsg))]; !ok {
		t.Fatalf("message without endpoints not stored")
	}
	for _, p := range []string{pDelivery, pEpMsg, pSchedule} {
		if got := keysWithPrefix(kv, p); len(got) != 0 {
			t.Fatalf("%s keys written: %q", p, got)
		}
	}
}

func TestCreateMessageMissingApp(t *testing.T) {
	s := fanoutStore(t)
	expectNoWrites(t, s, ErrNotFound, func(tx *Tx) error {
		_, _, err := tx.CreateMessage(NewMessage{Message: Message{ID: tMsg, AppID: "app_none", EventID: "e"}, EventIDExpiresMs: 9})
		return err
	})
}

// TestCreateMessageAppDeletedInBatch: the batch's memo of existing apps
// must forget an app deleted by an earlier entry of the same batch.
func TestCreateMessageAppDeletedInBatch(t *testing.T) {
	s := fanoutStore(t)
	b, err := s.Begin()
	if err != nil {
		t.Fatal(err)
	}
	idx := s.AppliedIndex()
	create := func(id string) error {
		idx++
		return b.Apply(idx, func(tx *Tx) error {
			_, _, err := tx.CreateMessage(NewMessage{Message: Message{ID: id, AppID: tApp, EventType: "x", Timestamp: 1e9}})
			return err
		})
	}
	first := create(tMsg)
	idx++
	del := b.Apply(idx, func(tx *Tx) error { return tx.DeleteApp(tApp) })
	second := create(tMsg2)
	// Commit before judging: a batch left open holds the store.
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if first != nil || del != nil {
		t.Fatalf("first message: %v; DeleteApp: %v", first, del)
	}
	if !errors.Is(second, ErrNotFound) {
		t.Fatalf("message to the app deleted earlier in the batch: err = %v, want ErrNotFound", second)
	}
}

func TestCreateMessageEventID(t *testing.T) {
	s := fanoutStore(t)
	first := NewMessage{Message: Message{ID: tMsg, AppID: tApp, EventType: "x", EventID: "evt-1", Timestamp: 1e9}, EventIDExpiresMs: 5000}
	mustApply(t, s, func(tx *Tx) error { _, _, err := tx.CreateMessage(first); return err })
	kv := dumpState(t, s)
	if kv[string(eventIDKey(tApp, "evt-1"))] != tMsg {
		t.Fatalf("event id index = %q", kv[string(eventIDKey(tApp, "evt-1"))])
	}
	if _, ok := kv[string(expiryKey(5000, eventIDKey(tApp, "evt-1")))]; !ok {
		t.Fatalf("event id expiry key missing; keys %q", keysWithPrefix(kv, pExpiry))
	}
	var byEvent Message
	view(t, s, func(r *Reader) (err error) { byEvent, err = r.Message(tApp, "evt-1"); return err })
	if byEvent.ID != tMsg {
		t.Fatalf("Message(by event id) = %+v", byEvent)
	}

	// Another message with the event id: the existing id comes back and
	// nothing is written.
	second := first
	second.ID = tMsg2
	var existing string
	expectNoWrites(t, s, ErrEventIDTaken, func(tx *Tx) (err error) {
		_, existing, err = tx.CreateMessage(second)
		return err
	})
	if existing != tMsg {
		t.Fatalf("existing = %q, want %q", existing, tMsg)
	}

	// The same event id in another app is free.
	other := second
	other.AppID = tApp2
	mustApply(t, s, func(tx *Tx) error { _, _, err := tx.CreateMessage(other); return err })

	// Without an expiry no expiry key is written.
	noExp := NewMessage{Message: Message{ID: "msg_3", AppID: tApp2, EventID: "evt-2"}}
	before := keysWithPrefix(dumpState(t, s), pExpiry)
	mustApply(t, s, func(tx *Tx) error { _, _, err := tx.CreateMessage(noExp); return err })
	if after := keysWithPrefix(dumpState(t, s), pExpiry); !slices.Equal(after, before) {
		t.Fatalf("expiry keys %q, want %q", after, before)
	}
}

func TestCreateMessageReapplied(t *testing.T) {
	nm := NewMessage{Message: Message{ID: tMsg, AppID: tApp, EventType: "user.created", EventID: "evt-1",
		Channels: []string{"eu"}, Payload: []byte(`{}`), Timestamp: 2e9}, EventIDExpiresMs: 9000}
	create := func(tx *Tx) (int, error) { n, _, err := tx.CreateMessage(nm); return n, err }

	clean := fanoutStore(t)
	n1, err := 0, error(nil)
	mustApply(t, clean, func(tx *Tx) error { n1, err = create(tx); return err })
	want := dumpState(t, clean)

	t.Run("on its own full state", func(t *testing.T) {
		n2 := 0
		mustApply(t, clean, func(tx *Tx) error { n2, err = create(tx); return err })
		if n2 != n1 {
			t.Fatalf("fanout %d, first time %d", n2, n1)
		}
		assertSameState(t, dumpState(t, clean), want)
	})

	t.Run("on its own partial state", func(t *testing.T) {
		// What a crash after commitPartial leaves: the message, its event
		// id and one delivery, but not the rest.
		s := fanoutStore(t)
		mustApply(t, s, func(tx *Tx) error {
			tx.set(messageKey(tApp, tMsg), encode(nm.Message.Encode))
			tx.set(eventIDKey(tApp, "evt-1"), []byte(tMsg))
			dl := Delivery{AppID: tApp, MsgID: tMsg, EndpointID: "ep_1all", Status: StatusPending, NextAttempt: 2e9}
			tx.set(deliveryKey(tApp, tMsg, "ep_1all"), encode(dl.Encode))
			return nil
		})
		n2 := 0
		mustApply(t, s, func(tx *Tx) error { n2, err = create(tx); return err })
		if n2 != n1 {
			t.Fatalf("fanout %d, clean %d", n2, n1)
		}
		assertSameState(t, dumpState(t, s), want)
	})
}

func TestReaderMessageByIDOrEventID(t *testing.T) {
	s := fanoutStore(t)
	mustApply(t, s, func(tx *Tx) error {
		_, _, err := tx.CreateMessage(NewMessage{Message: Message{ID: tMsg, AppID: tApp, EventID: "msg_looks_like_an_id", Payload: []byte("{}")}})
		return err
	})
	tests := []struct {
		appID, key string
		wantID     string
		wantErr    error
	}{
		{tApp, tMsg, tMsg, nil},
		{tApp, "msg_looks_like_an_id", tMsg, nil},
		{tApp, "msg_none", "", ErrNotFound},
		{tApp2, tMsg, "", ErrNotFound},
	}
	for _, tc := range tests {
		var m Message
		var err error
		view(t, s, func(r *Reader) error { m, err = r.Message(tc.appID, tc.key); return nil })
		if !errors.Is(err, tc.wantErr) || m.ID != tc.wantID {
			t.Errorf("Message(%s, %s) = %q, %v; want %q, %v", tc.appID, tc.key, m.ID, err, tc.wantID, tc.wantErr)
		}
	}
}

// The fan-out reads an app's endpoints from a cache: every kind of endpoint
// write, in the same batch or a later one, must be seen by the next message.
func TestFanOutSeesEndpointChanges(t *testing.T) {
	s := openTestStore(t, "")
	fanout := func(id string) int {
		var n int
		mustApply(t, s, func(tx *Tx) error {
			var err error
			n, _, err = tx.CreateMessage(NewMessage{Message: Message{ID: id, AppID: tApp, EventType: "a.b", Timestamp: 1e9}})
			return err
		})
		return n
	}
	mustApply(t, s, func(tx *Tx) error { return tx.CreateApp(testApp(tApp, "")) })
	if n := fanout("msg_0"); n != 0 {
		t.Fatalf("no endpoints: fan-out %d", n)
	}
	// Created in the same batch as a message: seen by it.
	mustApply(t, s, func(tx *Tx) error {
		if err := tx.CreateEndpoint(testEndpoint(tApp, "ep_1", "")); err != nil {
			return err
		}
		n, _, err := tx.CreateMessage(NewMessage{Message: Message{ID: "msg_1", AppID: tApp, EventType: "a.b", Timestamp: 1e9}})
		if n != 1 {
			t.Errorf("same batch: fan-out %d, want 1", n)
		}
		return err
	})
	ep := testEndpoint(tApp, "ep_1", "")
	ep.Disabled = true
	mustApply(t, s, func(tx *Tx) error { return tx.UpdateEndpoint(ep) })
	if n := fanout("msg_2"); n != 0 {
		t.Fatalf("disabled endpoint still receives: fan-out %d", n)
	}
	ep.Disabled = false
	mustApply(t, s, func(tx *Tx) error { return tx.UpdateEndpoint(ep) })
	if n := fanout("msg_3"); n != 1 {
		t.Fatalf("re-enabled endpoint: fan-out %d", n)
	}
	// Disabled by a 410 outcome.
	mustApply(t, s, func(tx *Tx) error {
		tx.RecordOutcome(Outcome{Key: ScheduleKey{DueMs: 1000, MsgID: "msg_3", EndpointID: "ep_1"}, AttemptNo: 1,
			Attempt: Attempt{ID: "atmpt_1", AppID: tApp, MsgID: "msg_3", EndpointID: "ep_1", StatusCode: 410, Status: StatusFail},
			Final:   StatusFail, DisableEndpoint: true})
		return nil
	})
	if n := fanout("msg_4"); n != 0 {
		t.Fatalf("endpoint disabled by 410 still receives: fan-out %d", n)
	}
	mustApply(t, s, func(tx *Tx) error { return tx.DeleteEndpoint(tApp, "ep_1", 1) })
	mustApply(t, s, func(tx *Tx) error { return tx.CreateEndpoint(testEndpoint(tApp, "ep_2", "")) })
	if n := fanout("msg_5"); n != 1 {
		t.Fatalf("after delete and create: fan-out %d", n)
	}
	// A restore replaces the state: the cache must not survive it.
	other := openTestStore(t, "")
	mustApply(t, other, func(tx *Tx) error { return tx.CreateApp(testApp(tApp, "")) })
	if err := s.RestoreFrom(bytes.NewReader(snapshotBytes(t, other))); err != nil {
		t.Fatal(err)
	}
	if n := fanout("msg_6"); n != 0 {
		t.Fatalf("after restoring a state without endpoints: fan-out %d", n)
	}
}

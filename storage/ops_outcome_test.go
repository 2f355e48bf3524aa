package storage

import (
	"errors"
	"reflect"
	"slices"
	"testing"
)

// outcomeStore holds one message delivered to one endpoint: schedule key
// due at 1000 ms for attempt 1.
func outcomeStore(t *testing.T) (*Store, ScheduleKey) {
	t.Helper()
	s := openTestStore(t, "")
	mustApply(t, s, func(tx *Tx) error {
		if err := tx.CreateApp(testApp(tApp, "")); err != nil {
			return err
		}
		if err := tx.CreateEndpoint(testEndpoint(tApp, tEpAll, "")); err != nil {
			return err
		}
		_, _, err := tx.CreateMessage(NewMessage{Message: Message{ID: tMsg, AppID: tApp, EventType: "x", Timestamp: 1000e6}})
		return err
	})
	return s, ScheduleKey{DueMs: 1000, MsgID: tMsg, EndpointID: tEpAll}
}

func testAttempt(id string, status Status, code int, ts int64) Attempt {
	return Attempt{ID: id, AppID: tApp, MsgID: tMsg, EndpointID: tEpAll, Timestamp: ts, URL: "https://example.com/",
		StatusCode: code, Response: []byte("r"), DurationMs: 3, Status: status}
}

func TestRecordOutcome(t *testing.T) {
	tests := []struct {
		name       string
		outcomes   func(k ScheduleKey) []Outcome
		wantDl     Delivery
		wantSched  []ScheduleKey
		wantDue    map[int64]Due // by due ms
		wantAtts   []string
		wantMinDue int64 // of the last batch
		wantEpOff  bool
	}{
		{
			name: "success",
			outcomes: func(k ScheduleKey) []Outcome {
				return []Outcome{{Key: k, AttemptNo: 1, Attempt: testAttempt("atmpt_1", StatusSuccess, 200, 1100e6), Final: StatusSuccess}}
			},
			wantDl:   Delivery{AppID: tApp, MsgID: tMsg, EndpointID: tEpAll, Status: StatusSuccess, Attempts: 1, LastAttempt: 1100e6},
			wantAtts: []string{"atmpt_1"},
		},
		{
			name: "retry",
			outcomes: func(k ScheduleKey) []Outcome {
				return []Outcome{{Key: k, AttemptNo: 1, Attempt: testAttempt("atmpt_1", StatusFail, 500, 1100e6), NextDueMs: 6000}}
			},
			wantDl:     Delivery{AppID: tApp, MsgID: tMsg, EndpointID: tEpAll, Status: StatusPending, Attempts: 1, NextAttempt: 6000e6, LastAttempt: 1100e6},
			wantSched:  []ScheduleKey{{DueMs: 6000, MsgID: tMsg, EndpointID: tEpAll}},
			wantDue:    map[int64]Due{6000: {AppID: tApp, Attempt: 2}},
			wantAtts:   []string{"atmpt_1"},
			wantMinDue: 6000,
		},
		{
			name: "retry then final failure",
			outcomes: func(k ScheduleKey) []Outcome {
				next := ScheduleKey{DueMs: 6000, MsgID: tMsg, EndpointID: tEpAll}
				return []Outcome{
					{Key: k, AttemptNo: 1, Attempt: testAttempt("atmpt_1", StatusFail, 500, 1100e6), NextDueMs: 6000},
					{Key: next, AttemptNo: 2, Attempt: testAttempt("atmpt_2", StatusFail, 0, 6100e6), Final: StatusFail},
				}
			},
			wantDl:   Delivery{AppID: tApp, MsgID: tMsg, EndpointID: tEpAll, Status: StatusFail, Attempts: 2, LastAttempt: 6100e6},
			wantAtts: []string{"atmpt_1", "atmpt_2"},
		},
		{
			name: "gone disables the endpoint",
			outcomes: func(k ScheduleKey) []Outcome {
				return []Outcome{{Key: k, AttemptNo: 1, Attempt: testAttempt("atmpt_1", StatusFail, 410, 1100e6), Final: StatusFail, DisableEndpoint: true}}
			},
			wantDl:    Delivery{AppID: tApp, MsgID: tMsg, EndpointID: tEpAll, Status: StatusFail, Attempts: 1, LastAttempt: 1100e6},
			wantAtts:  []string{"atmpt_1"},
			wantEpOff: true,
		},
		{
			name: "stale outcome for a moved key records the attempt only",
			outcomes: func(k ScheduleKey) []Outcome {
				return []Outcome{
					{Key: k, AttemptNo: 1, Attempt: testAttempt("atmpt_1", StatusFail, 500, 1100e6), NextDueMs: 6000},
					// A deposed leader's second send of attempt 1.
					{Key: k, AttemptNo: 1, Attempt: testAttempt("atmpt_1b", StatusFail, 500, 1200e6), NextDueMs: 7000},
				}
			},
			wantDl:    Delivery{AppID: tApp, MsgID: tMsg, EndpointID: tEpAll, Status: StatusPending, Attempts: 1, NextAttempt: 6000e6, LastAttempt: 1200e6},
			wantSched: []ScheduleKey{{DueMs: 6000, MsgID: tMsg, EndpointID: tEpAll}},
			wantDue:   map[int64]Due{6000: {AppID: tApp, Attempt: 2}},
			wantAtts:  []string{"atmpt_1", "atmpt_1b"},
		},
		{
			name: "stale success still marks the delivery successful",
			outcomes: func(k ScheduleKey) []Outcome {
				return []Outcome{
					{Key: k, AttemptNo: 1, Attempt: testAttempt("atmpt_1", StatusFail, 500, 1100e6), NextDueMs: 6000},
					{Key: k, AttemptNo: 1, Attempt: testAttempt("atmpt_1b", StatusSuccess, 200, 1200e6), Final: StatusSuccess},
				}
			},
			wantDl:    Delivery{AppID: tApp, MsgID: tMsg, EndpointID: tEpAll, Status: StatusSuccess, Attempts: 1, NextAttempt: 6000e6, LastAttempt: 1200e6},
			wantSched: []ScheduleKey{{DueMs: 6000, MsgID: tMsg, EndpointID: tEpAll}},
			wantDue:   map[int64]Due{6000: {AppID: tApp, Attempt: 2}},
			wantAtts:  []string{"atmpt_1", "atmpt_1b"},
		},
		{
			name: "attempts count keeps the maximum",
			outcomes: func(k ScheduleKey) []Outcome {
				k3 := ScheduleKey{DueMs: 9000, MsgID: tMsg, EndpointID: tEpAll}
				return []Outcome{
					{Key: k, AttemptNo: 3, Attempt: testAttempt("atmpt_3", StatusFail, 500, 3000e6), NextDueMs: 9000},
					{Key: k, AttemptNo: 2, Attempt: testAttempt("atmpt_2", StatusFail, 500, 3500e6), NextDueMs: 8000},
					{Key: k3, AttemptNo: 0, Attempt: Attempt{AppID: tApp}, Final: StatusCanceled},
				}
			},
			// The endpoint-less last outcome (no attempt made) ends the
			// delivery without touching the count or the last attempt.
			wantDl:   Delivery{AppID: tApp, MsgID: tMsg, EndpointID: tEpAll, Status: StatusCanceled, Attempts: 3, LastAttempt: 3500e6},
			wantAtts: []string{"atmpt_2", "atmpt_3"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, k := outcomeStore(t)
			var minDue int64
			for _, o := range tc.outcomes(k) {
				b, err := s.Begin()
				if err != nil {
					t.Fatal(err)
				}
				if err := b.Apply(s.AppliedIndex()+1, func(tx *Tx) error { tx.RecordOutcome(o); return nil }); err != nil {
					t.Fatal(err)
				}
				minDue = b.MinDue()
				if err := b.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			if minDue != tc.wantMinDue {
				t.Errorf("MinDue of the last batch = %d, want %d", minDue, tc.wantMinDue)
			}
			if dl, err := getDelivery(t, s, tApp, tMsg, tEpAll); err != nil || !reflect.DeepEqual(dl, tc.wantDl) {
				t.Errorf("delivery = %+v, %v\n          want %+v", dl, err, tc.wantDl)
			}
			var wantSched []string
			for _, sk := range tc.wantSched {
				wantSched = append(wantSched, string(sk.Bytes()))
			}
			kv := dumpState(t, s)
			if got := keysWithPrefix(kv, pSchedule); !slices.Equal(got, wantSched) {
				t.Errorf("schedule keys = %q, want %q", got, wantSched)
			}
			for dueMs, want := range tc.wantDue {
				var got Due
				k := ScheduleKey{DueMs: dueMs, MsgID: tMsg, EndpointID: tEpAll}.Bytes()
				if err := decodeInto([]byte(kv[string(k)]), got.Decode); err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("due at %d = %+v, %v; want %+v", dueMs, got, err, want)
				}
			}
			var atts []string
			for _, id := range tc.wantAtts {
				atts = append(atts, string(attemptKey(tApp, tMsg, id)))
				var at Attempt
				view(t, s, func(r *Reader) (err error) { at, err = r.Attempt(tApp, tMsg, id); return err })
				if at.ID != id || at.MsgID != tMsg {
					t.Errorf("attempt %s = %+v", id, at)
				}
				if v := kv[string(epAttemptKey(tApp, tEpAll, id))]; v != tMsg {
					t.Errorf("endpoint attempt index of %s = %q", id, v)
				}
			}
			if got := keysWithPrefix(kv, pAttempt); !slices.Equal(got, atts) {
				t.Errorf("attempt keys = %q, want %q", got, atts)
			}
			ep, err := getEndpoint(t, s, tApp, tEpAll)
			if err != nil || ep.Disabled != tc.wantEpOff {
				t.Errorf("endpoint disabled = %v (%v), want %v", ep.Disabled, err, tc.wantEpOff)
			}
			if tc.wantEpOff && ep.UpdatedAt != 1100e6 {
				t.Errorf("disabled endpoint UpdatedAt = %d, want the attempt time", ep.UpdatedAt)
			}
		})
	}
}

func TestRecordOutcomeDeletedDelivery(t *testing.T) {
	// An outcome for a delivery record that is gone (the app was deleted
	// and recreated, say) rebuilds a minimal one instead of failing.
	s, k := outcomeStore(t)
	mustApply(t, s, func(tx *Tx) error { tx.del(deliveryKey(tApp, tMsg, tEpAll)); return nil })
	mustApply(t, s, func(tx *Tx) error {
		tx.RecordOutcome(Outcome{Key: k, AttemptNo: 1, Attempt: testAttempt("atmpt_1", StatusSuccess, 200, 5), Final: StatusSuccess})
		return nil
	})
	want := Delivery{AppID: tApp, MsgID: tMsg, EndpointID: tEpAll, Status: StatusSuccess, Attempts: 1, LastAttempt: 5}
	if dl, err := getDelivery(t, s, tApp, tMsg, tEpAll); err != nil || !reflect.DeepEqual(dl, want) {
		t.Fatalf("delivery = %+v, %v; want %+v", dl, err, want)
	}
}

func TestResend(t *testing.T) {
	s, k := outcomeStore(t)
	mustApply(t, s, func(tx *Tx) error {
		tx.RecordOutcome(Outcome{Key: k, AttemptNo: 2, Attempt: testAttempt("atmpt_1", StatusFail, 500, 1100e6), Final: StatusFail})
		return nil
	})
	mustApply(t, s, func(tx *Tx) error { return tx.Resend(tApp, tMsg, tEpAll, 50_000) })
	want := Delivery{AppID: tApp, MsgID: tMsg, EndpointID: tEpAll, Status: StatusPending, Attempts: 2, NextAttempt: 50_000e6, LastAttempt: 1100e6}
	if dl, err := getDelivery(t, s, tApp, tMsg, tEpAll); err != nil || !reflect.DeepEqual(dl, want) {
		t.Fatalf("delivery = %+v, %v; want %+v", dl, err, want)
	}
	manual := ScheduleKey{DueMs: 50_000, MsgID: tMsg, EndpointID: tEpAll}.Bytes()
	kv := dumpState(t, s)
	if got := keysWithPrefix(kv, pSchedule); !slices.Equal(got, []string{string(manual)}) {
		t.Fatalf("schedule keys = %q", got)
	}
	var due Due
	if err := decodeInto([]byte(kv[string(manual)]), due.Decode); err != nil || !reflect.DeepEqual(due, Due{AppID: tApp, Attempt: 3, Trigger: TriggerManual}) {
		t.Fatalf("manual due = %+v, %v", due, err)
	}

	t.Run("to an endpoint the message never went to", func(t *testing.T) {
		mustApply(t, s, func(tx *Tx) error { return tx.CreateEndpoint(testEndpoint(tApp, "ep_new", "")) })
		mustApply(t, s, func(tx *Tx) error { return tx.Resend(tApp, tMsg, "ep_new", 60_000) })
		want := Delivery{AppID: tApp, MsgID: tMsg, EndpointID: "ep_new", Status: StatusPending, NextAttempt: 60_000e6}
		if dl, err := getDelivery(t, s, tApp, tMsg, "ep_new"); err != nil || !reflect.DeepEqual(dl, want) {
			t.Fatalf("delivery = %+v, %v; want %+v", dl, err, want)
		}
		if _, ok := dumpState(t, s)[string(epMsgKey(tApp, "ep_new", tMsg))]; !ok {
			t.Fatalf("endpoint message index not written")
		}
	})
	t.Run("missing message or endpoint", func(t *testing.T) {
		expectNoWrites(t, s, ErrNotFound, func(tx *Tx) error { return tx.Resend(tApp, "msg_none", tEpAll, 1) })
		expectNoWrites(t, s, ErrNotFound, func(tx *Tx) error { return tx.Resend(tApp, tMsg, "ep_none", 1) })
		expectNoWrites(t, s, ErrNotFound, func(tx *Tx) error { return tx.Resend(tApp2, tMsg, tEpAll, 1) })
	})
}

func TestIdempotencyAndExpire(t *testing.T) {
	s := fanoutStore(t)
	h1, h2, h3 := []byte("hash-1"), []byte("hash-2"), []byte("hash-3")
	r1 := IdempotentResponse{Status: 200, Body: []byte(`{"a":1}`), CreatedAt: 7}
	mustApply(t, s, func(tx *Tx) error {
		tx.PutIdempotent(h1, r1, 1000)
		tx.PutIdempotent(h2, IdempotentResponse{Status: 201}, 2000)
		tx.PutIdempotent(h3, IdempotentResponse{Status: 202}, 3000)
		_, _, err := tx.CreateMessage(NewMessage{Message: Message{ID: tMsg, AppID: tApp, EventID: "evt"}, EventIDExpiresMs: 1500})
		return err
	})
	mustApply(t, s, func(tx *Tx) error {
		got, ok := tx.Idempotent(h1)
		if !ok || !reflect.DeepEqual(got, r1) {
			t.Errorf("Tx.Idempotent = %+v, %v", got, ok)
		}
		if _, ok := tx.Idempotent([]byte("other")); ok {
			t.Errorf("Tx.Idempotent(unknown) found")
		}
		return nil
	})
	view(t, s, func(r *Reader) error {
		if got, ok := r.Idempotent(h1); !ok || !reflect.DeepEqual(got, r1) {
			t.Errorf("Reader.Idempotent = %+v, %v", got, ok)
		}
		return nil
	})

	live := func() []string {
		kv := dumpState(t, s)
		var names []string
		for _, h := range [][]byte{h1, h2, h3} {
			if _, ok := kv[string(idemKey(h))]; ok {
				names = append(names, string(h))
			}
		}
		if _, ok := kv[string(eventIDKey(tApp, "evt"))]; ok {
			names = append(names, "evt")
		}
		return names
	}
	steps := []struct {
		nowMs   int64
		limit   int
		want    int
		live    []string
		expKeys int
	}{
		{nowMs: 999, limit: 10, want: 0, live: []string{"hash-1", "hash-2", "hash-3", "evt"}, expKeys: 4},
		{nowMs: 5000, limit: 0, want: 0, live: []string{"hash-1", "hash-2", "hash-3", "evt"}, expKeys: 4},
		{nowMs: 1000, limit: 10, want: 1, live: []string{"hash-2", "hash-3", "evt"}, expKeys: 3}, // inclusive
		{nowMs: 2500, limit: 1, want: 1, live: []string{"hash-2", "hash-3"}, expKeys: 2},         // limit, oldest first
		{nowMs: 2500, limit: 10, want: 1, live: []string{"hash-3"}, expKeys: 1},
		{nowMs: 2500, limit: 10, want: 0, live: []string{"hash-3"}, expKeys: 1},
		{nowMs: 1 << 50, limit: 10, want: 1, live: nil, expKeys: 0},
	}
	for i, st := range steps {
		var n int
		mustApply(t, s, func(tx *Tx) error { n = tx.Expire(st.nowMs, st.limit); return nil })
		if n != st.want {
			t.Fatalf("step %d: Expire(%d, %d) = %d, want %d", i, st.nowMs, st.limit, n, st.want)
		}
		if got := live(); !slices.Equal(got, st.live) {
			t.Fatalf("step %d: live = %v, want %v", i, got, st.live)
		}
		if got := keysWithPrefix(dumpState(t, s), pExpiry); len(got) != st.expKeys {
			t.Fatalf("step %d: expiry keys %q, want %d", i, got, st.expKeys)
		}
	}
	// The message itself stays; only its event id reservation expired.
	if _, ok := dumpState(t, s)[string(messageKey(tApp, tMsg))]; !ok {
		t.Fatalf("Expire deleted the message")
	}
	// And the event id can be used again.
	mustApply(t, s, func(tx *Tx) error {
		_, _, err := tx.CreateMessage(NewMessage{Message: Message{ID: tMsg2, AppID: tApp, EventID: "evt"}})
		return err
	})
}

func TestAdminHashAndNodes(t *testing.T) {
	s := openTestStore(t, "")
	view(t, s, func(r *Reader) error {
		if h := r.AdminHash(); h != nil {
			t.Errorf("AdminHash of a new store = %x", h)
		}
		return nil
	})
	hash := []byte{1, 2, 3}
	mustApply(t, s, func(tx *Tx) error {
		tx.SetAdminHash(hash)
		tx.PutNode(Node{ID: "n2", RaftAddr: "r2", HTTPAddr: "h2"})
		tx.PutNode(Node{ID: "n1", RaftAddr: "r1", HTTPAddr: "h1"})
		tx.PutNode(Node{ID: "n3", RaftAddr: "r3", HTTPAddr: "h3"})
		return nil
	})
	hash[0] = 9 // the store keeps its own copy
	mustApply(t, s, func(tx *Tx) error {
		tx.PutNode(Node{ID: "n1", RaftAddr: "r1b", HTTPAddr: "h1b"})
		tx.DeleteNode("n3")
		tx.DeleteNode("n-none")
		return nil
	})
	view(t, s, func(r *Reader) error {
		if h := r.AdminHash(); !slices.Equal(h, []byte{1, 2, 3}) {
			t.Errorf("AdminHash = %x", h)
		}
		nodes, err := r.Nodes()
		want := []Node{{ID: "n1", RaftAddr: "r1b", HTTPAddr: "h1b"}, {ID: "n2", RaftAddr: "r2", HTTPAddr: "h2"}}
		if err != nil || !reflect.DeepEqual(nodes, want) {
			t.Errorf("Nodes = %+v, %v; want %+v", nodes, err, want)
		}
		return nil
	})
}

// A removed node leaves the registry and keeps a tombstone until an
// operator allows it back.
func TestRemovedNodes(t *testing.T) {
	s := openTestStore(t, "")
	mustApply(t, s, func(tx *Tx) error {
		tx.PutNode(Node{ID: "n1", RaftAddr: "r1", HTTPAddr: "h1"})
		tx.PutNode(Node{ID: "n2", RaftAddr: "r2", HTTPAddr: "h2"})
		tx.RemoveNode(RemovedNode{ID: "n2", At: 5})
		tx.RemoveNode(RemovedNode{ID: "n9", At: 6}) // not in the registry
		return nil
	})
	view(t, s, func(r *Reader) error {
		nodes, _ := r.Nodes()
		if want := []Node{{ID: "n1", RaftAddr: "r1", HTTPAddr: "h1"}}; !reflect.DeepEqual(nodes, want) {
			t.Errorf("Nodes = %+v, want %+v", nodes, want)
		}
		removed, err := r.RemovedNodes()
		if want := []RemovedNode{{ID: "n2", At: 5}, {ID: "n9", At: 6}}; err != nil || !reflect.DeepEqual(removed, want) {
			t.Errorf("RemovedNodes = %+v, %v; want %+v", removed, err, want)
		}
		if !r.Removed("n2") || r.Removed("n1") {
			t.Errorf("Removed(n2) = %v, Removed(n1) = %v", r.Removed("n2"), r.Removed("n1"))
		}
		return nil
	})
	mustApply(t, s, func(tx *Tx) error {
		if err := tx.AllowRejoin("n2"); err != nil {
			t.Errorf("AllowRejoin(n2) = %v", err)
		}
		if err := tx.AllowRejoin("n1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("AllowRejoin of a node never removed = %v, want ErrNotFound", err)
		}
		return nil
	})
	view(t, s, func(r *Reader) error {
		if r.Removed("n2") || !r.Removed("n9") {
			t.Errorf("after AllowRejoin(n2): Removed(n2) = %v, Removed(n9) = %v", r.Removed("n2"), r.Removed("n9"))
		}
		return nil
	})
}

// An expiry entry must not delete a value written again under its key after
// it: an idempotency key reused once its first record expired keeps its new
// record until the new expiry.
func TestExpireSparesRewrittenKey(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	hash := []byte("0123456789abcdef0123456789abcdef")
	mustApply(t, s, func(tx *Tx) error {
		tx.PutIdempotent(hash, IdempotentResponse{Status: 201, Body: []byte(`{"first":1}`), CreatedAt: 1e6}, 1000)
		return nil
	})
	mustApply(t, s, func(tx *Tx) error {
		tx.PutIdempotent(hash, IdempotentResponse{Status: 201, Body: []byte(`{"second":2}`), CreatedAt: 2e6}, 5000)
		return nil
	})
	mustApply(t, s, func(tx *Tx) error { tx.Expire(2000, 100); return nil })
	var got IdempotentResponse
	var ok bool
	view(t, s, func(r *Reader) error { got, ok = r.Idempotent(hash); return nil })
	if !ok || string(got.Body) != `{"second":2}` {
		t.Fatalf("after the first expiry: record %v %q, want the second record kept", ok, got.Body)
	}
	mustApply(t, s, func(tx *Tx) error { tx.Expire(6000, 100); return nil })
	view(t, s, func(r *Reader) error { _, ok = r.Idempotent(hash); return nil })
	if ok {
		t.Fatalf("the second record outlived its own expiry")
	}
}

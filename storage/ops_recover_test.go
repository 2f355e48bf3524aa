package storage

import (
	"testing"
	"time"
)

// TestRecover re-queues an endpoint's failed deliveries in a time range,
// in chunks, and leaves everything else alone.
func TestRecover(t *testing.T) {
	s := openTestStore(t, "")
	mustApply(t, s, func(tx *Tx) error {
		if err := tx.CreateApp(testApp(tApp, "")); err != nil {
			return err
		}
		return tx.CreateEndpoint(testEndpoint(tApp, tEpAll, ""))
	})
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	// Messages an hour apart: 0..5. Deliveries of 0, 1, 2 and 4 fail for
	// good, 3 succeeds, 5 is still pending.
	final := map[int]Status{0: StatusFail, 1: StatusFail, 2: StatusFail, 3: StatusSuccess, 4: StatusFail}
	var ids []string
	for i := range 6 {
		at := base.Add(time.Duration(i) * time.Hour)
		id := NewID(PrefixMessage, at)
		ids = append(ids, id)
		mustApply(t, s, func(tx *Tx) error {
			_, _, err := tx.CreateMessage(NewMessage{Message: Message{ID: id, AppID: tApp, EventType: "x", Timestamp: at.UnixNano()}})
			return err
		})
		if st, ok := final[i]; ok {
			mustApply(t, s, func(tx *Tx) error {
				tx.RecordOutcome(Outcome{Key: ScheduleKey{DueMs: at.UnixMilli(), MsgID: id, EndpointID: tEpAll}, AttemptNo: 1, Final: st, Attempt: Attempt{AppID: tApp}})
				return nil
			})
		}
	}
	status := func(i int) Status {
		dl, err := getDelivery(t, s, tApp, ids[i], tEpAll)
		if err != nil {
			t.Fatal(err)
		}
		return dl.Status
	}
	// From message 1 up to (not including) message 4, two messages a call.
	since, until := base.Add(time.Hour).UnixNano(), base.Add(4*time.Hour).UnixNano()
	due := base.Add(48 * time.Hour).UnixMilli()
	var total, calls int
	cursor := ""
	for {
		var n int
		mustApply(t, s, func(tx *Tx) error { n, cursor = tx.Recover(tApp, tEpAll, since, until, cursor, 2, due); return nil })
		total, calls = total+n, calls+1
		if cursor == "" || calls > 5 {
			break
		}
	}
	if total != 2 || calls != 2 {
		t.Fatalf("re-queued %d in %d calls, want 2 in 2", total, calls)
	}
	want := []Status{StatusFail, StatusPending, StatusPending, StatusSuccess, StatusFail, StatusPending}
	for i, w := range want {
		if got := status(i); got != w {
			t.Errorf("message %d: status %v, want %v", i, got, w)
		}
	}
	kv := dumpState(t, s)
	for _, i := range []int{1, 2} {
		k := ScheduleKey{DueMs: due, MsgID: ids[i], EndpointID: tEpAll}.Bytes()
		if _, ok := kv[string(k)]; !ok {
			t.Errorf("message %d: no schedule key at the recovery time", i)
		}
	}
	// Unknown endpoint or an empty range: nothing to do.
	mustApply(t, s, func(tx *Tx) error {
		if n, c := tx.Recover(tApp, "ep_none", since, until, "", 10, due); n != 0 || c != "" {
			t.Errorf("unknown endpoint: %d, %q", n, c)
		}
		return nil
	})
}

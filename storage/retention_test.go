package storage

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// retentionStore holds three messages of one app, a minute apart, each
// delivered to one endpoint: the first two delivered (with an attempt
// each), the third still pending. Every payload is due to expire at its
// message's time plus a second.
func retentionStore(t *testing.T) (*Store, []string, time.Time) {
	t.Helper()
	s := openTestStore(t, "")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Not NewID: its ids only ever increase within the process.
	ids := []string{
		boundID("msg_", base, false), boundID("msg_", base.Add(time.Minute), false), boundID("msg_", base.Add(2*time.Minute), false),
	}
	mustApply(t, s, func(tx *Tx) error {
		if err := tx.CreateApp(testApp(tApp, "")); err != nil {
			return err
		}
		if err := tx.CreateEndpoint(testEndpoint(tApp, tEpAll, "")); err != nil {
			return err
		}
		for i, id := range ids {
			ts := base.Add(time.Duration(i) * time.Minute).UnixNano()
			m := Message{ID: id, AppID: tApp, EventType: "x", EventID: "evt-" + id, Payload: []byte(`{"n":1}`), Timestamp: ts}
			nm := NewMessage{Message: m, EventIDExpiresMs: ts/1e6 + 3600e3, PayloadExpiresMs: ts/1e6 + 1000}
			if _, _, err := tx.CreateMessage(nm); err != nil {
				return err
			}
		}
		return nil
	})
	mustApply(t, s, func(tx *Tx) error {
		for i, id := range ids[:2] {
			ts := base.Add(time.Duration(i) * time.Minute).UnixNano()
			a := Attempt{ID: "atmpt_" + id[4:], AppID: tApp, MsgID: id, EndpointID: tEpAll, Timestamp: ts,
				StatusCode: 200, Response: []byte("ok"), Status: StatusSuccess,
				RequestHeaders:  []Header{{Name: "Webhook-Id", Value: id}},
				ResponseHeaders: []Header{{Name: "X-Customer", Value: "alice@example.com"}}}
			tx.RecordOutcome(Outcome{Key: ScheduleKey{DueMs: ts / 1e6, MsgID: id, EndpointID: tEpAll},
				AttemptNo: 1, Attempt: a, Final: StatusSuccess})
		}
		return nil
	})
	return s, ids, base
}

func TestExpirePayloadsKeepsPending(t *testing.T) {
	s, ids, base := retentionStore(t)
	now := base.Add(time.Hour).UnixMilli()
	var n int
	mustApply(t, s, func(tx *Tx) error { n = tx.ExpirePayloads(now, 100); return nil })
	if n != 3 {
		t.Fatalf("ExpirePayloads handled %d entries, want 3", n)
	}
	view(t, s, func(r *Reader) error {
		for i, id := range ids {
			m, err := r.Message(tApp, id)
			if err != nil {
				t.Fatalf("message %d after payload expiry: %v", i, err)
			}
			if pending := i == 2; pending != (len(m.Payload) > 0) {
				t.Errorf("message %d: payload %q (pending %v)", i, m.Payload, pending)
			}
		}
		return nil
	})
	// The pending one is looked at again an hour later, not before.
	mustApply(t, s, func(tx *Tx) error { n = tx.ExpirePayloads(now, 100); return nil })
	if n != 0 {
		t.Fatalf("second pass handled %d entries, want 0", n)
	}
	kv := dumpKV(t, s)
	keys := 0
	for k := range kv {
		if strings.HasPrefix(k, pPayloadExp) {
			keys++
		}
	}
	if keys != 1 {
		t.Fatalf("%d payload expiry keys left, want 1 (the pending message's)", keys)
	}
}

func TestPurgeMessagesRemovesEverythingButPending(t *testing.T) {
	s, ids, base := retentionStore(t)
	before := base.Add(time.Hour).UnixNano()
	var (
		n      int
		cursor string
	)
	mustApply(t, s, func(tx *Tx) error { n, cursor = tx.PurgeMessages(before, "", 100); return nil })
	if n != 2 || cursor != "" {
		t.Fatalf("PurgeMessages = %d, %q; want 2, \"\"", n, cursor)
	}
	for k := range dumpKV(t, s) {
		if strings.HasPrefix(k, pExpiry) || strings.HasPrefix(k, pPayloadExp) {
			continue // expiry entries go by themselves when due
		}
		for _, id := range ids[:2] {
			if strings.Contains(k, id) || strings.Contains(k, "atmpt_"+id[4:]) {
				t.Errorf("key %q of a purged message is left", k)
			}
		}
	}
	view(t, s, func(r *Reader) error {
		if _, err := r.Message(tApp, ids[2]); err != nil {
			t.Errorf("pending message purged: %v", err)
		}
		if st := r.RetentionStats(10); !st.OldestMessage.Equal(base.Add(2 * time.Minute)) {
			t.Errorf("oldest message = %v, want %v", st.OldestMessage, base.Add(2*time.Minute))
		}
		return nil
	})
}

func TestPurgeMessagesLimitAndCutoff(t *testing.T) {
	s, ids, base := retentionStore(t)
	var n int
	// Only the first message is older than the cutoff.
	mustApply(t, s, func(tx *Tx) error { n, _ = tx.PurgeMessages(base.Add(30*time.Second).UnixNano(), "", 100); return nil })
	if n != 1 {
		t.Fatalf("purged %d, want 1", n)
	}
	mustApply(t, s, func(tx *Tx) error { n, _ = tx.PurgeMessages(base.Add(time.Hour).UnixNano(), "", 1); return nil })
	if n != 1 {
		t.Fatalf("purged %d with limit 1, want 1", n)
	}
	view(t, s, func(r *Reader) error {
		for i, id := range ids {
			_, err := r.Message(tApp, id)
			if gone := i < 2; gone != errors.Is(err, ErrNotFound) {
				t.Errorf("message %d: err %v", i, err)
			}
		}
		return nil
	})
}

func TestExpungeContent(t *testing.T) {
	s, ids, _ := retentionStore(t)
	att := "atmpt_" + ids[0][4:]
	mustApply(t, s, func(tx *Tx) error {
		if err := tx.ExpungeContent(tApp, ids[0]); err != nil {
			return err
		}
		return tx.ExpungeAttemptContent(tApp, ids[0], att)
	})
	view(t, s, func(r *Reader) error {
		m, err := r.Message(tApp, ids[0])
		if err != nil || len(m.Payload) != 0 {
			t.Errorf("after expunge: payload %q, err %v", m.Payload, err)
		}
		a, err := r.Attempt(tApp, ids[0], att)
		if err != nil || len(a.Response) != 0 || len(a.ResponseHeaders) != 0 || len(a.RequestHeaders) != 1 || a.StatusCode != 200 {
			t.Errorf("after attempt expunge: %+v, err %v", a, err)
		}
		return nil
	})
	err := applyTx(t, s, func(tx *Tx) error { return tx.ExpungeContent(tApp, "msg_missing") })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("expunge of a missing message = %v, want ErrNotFound", err)
	}
	err = applyTx(t, s, func(tx *Tx) error { return tx.ExpungeAttemptContent(tApp, ids[0], "atmpt_missing") })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("expunge of a missing attempt = %v, want ErrNotFound", err)
	}
}

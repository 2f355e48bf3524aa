package storage

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"
)

const tOpsEp = "ep_ops"

// noticeStore holds an app with one endpoint, one message to it (due at
// 1000 ms for attempt 1, event id "evt-1"), and, with ops, an operational
// webhook endpoint taking the given event types (all when none).
func noticeStore(t *testing.T, ops bool, filter ...string) (*Store, ScheduleKey) {
	t.Helper()
	s := openTestStore(t, "")
	mustApply(t, s, func(tx *Tx) error {
		if err := tx.CreateApp(testApp(tApp, "acme")); err != nil {
			return err
		}
		if ops {
			op := testEndpoint(OpsAppID, tOpsEp, "")
			op.FilterTypes = filter
			if err := tx.CreateEndpoint(op); err != nil {
				return err
			}
		}
		if err := tx.CreateEndpoint(testEndpoint(tApp, tEpAll, "")); err != nil {
			return err
		}
		_, _, err := tx.CreateMessage(NewMessage{Message: Message{ID: tMsg, AppID: tApp, EventType: "x", EventID: "evt-1", Timestamp: 1000e6}})
		return err
	})
	return s, ScheduleKey{DueMs: 1000, MsgID: tMsg, EndpointID: tEpAll}
}

// notice is a stored notice message, its payload decoded.
type notice struct {
	ID        string
	Type      string         `json:"type"`
	Timestamp time.Time      `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

// notices returns the hidden application's messages, oldest first, and
// checks each has a delivery to the operational endpoint.
func notices(t *testing.T, s *Store) []notice {
	t.Helper()
	var out []notice
	view(t, s, func(r *Reader) error {
		p, err := r.ListMessages(OpsAppID, MessageFilter{}, ListOptions{Limit: 100})
		for _, m := range p.Items {
			n := notice{ID: m.ID}
			if err := json.Unmarshal(m.Payload, &n); err != nil {
				t.Fatalf("notice payload %s: %v", m.Payload, err)
			}
			if n.Type != m.EventType {
				t.Errorf("notice type %q in a message of event type %q", n.Type, m.EventType)
			}
			if _, err := r.Delivery(OpsAppID, m.ID, tOpsEp); err != nil {
				t.Errorf("notice %s: no delivery to the operational endpoint: %v", n.Type, err)
			}
			out = append(out, n)
		}
		return err
	})
	// Listed in id order, which is by the second: within one second, by
	// the time the notices carry.
	slices.SortStableFunc(out, func(a, b notice) int { return a.Timestamp.Compare(b.Timestamp) })
	return out
}

func noticeTypes(ns []notice) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Type)
	}
	return out
}

// failures records attempts from..to of the message, all failing; the
// last one is final when final is set. It returns the schedule key of the
// next attempt.
func failures(t *testing.T, s *Store, k ScheduleKey, from, to uint32, final bool) ScheduleKey {
	t.Helper()
	for n := from; n <= to; n++ {
		at := testAttempt("atmpt_"+string(rune('0'+n)), StatusFail, 500, k.DueMs*1e6+100e6)
		o := Outcome{Key: k, AttemptNo: n, Attempt: at}
		next := ScheduleKey{DueMs: k.DueMs + 1000, MsgID: k.MsgID, EndpointID: k.EndpointID}
		if n == to && final {
			o.Final = StatusFail
		} else {
			o.NextDueMs = next.DueMs
		}
		recordOutcome(t, s, o)
		k = next
	}
	return k
}

func recordOutcome(t *testing.T, s *Store, o Outcome) {
	t.Helper()
	mustApply(t, s, func(tx *Tx) error { tx.RecordOutcome(o); return nil })
}

func TestNoticesOfAttempts(t *testing.T) {
	s, k := noticeStore(t, true)
	k = failures(t, s, k, 1, 3, false)
	if got := noticeTypes(notices(t, s)); len(got) != 1 || got[0] != EventEndpointCreated {
		t.Fatalf("notices after 3 failures: %v, want only the endpoint's creation", got)
	}
	k = failures(t, s, k, 4, 4, false)
	if got := noticeTypes(notices(t, s)); !slices.Equal(got, []string{EventEndpointCreated, EventAttemptFailing}) {
		t.Fatalf("notices after the 4th failure: %v, want failing once", got)
	}
	k = failures(t, s, k, 5, 7, false)
	if got := noticeTypes(notices(t, s)); len(got) != 2 {
		t.Fatalf("notices after 7 failures: %v, want no more", got)
	}
	last := k
	failures(t, s, k, 8, 8, true)
	ns := notices(t, s)
	if got := noticeTypes(ns); !slices.Equal(got, []string{EventEndpointCreated, EventAttemptFailing, EventAttemptExhausted}) {
		t.Fatalf("notices after the last attempt: %v, want exhausted once", got)
	}
	ex := ns[2]
	want := map[string]any{
		"appId": tApp, "appUid": "acme", "endpointId": tEpAll, "msgId": tMsg, "msgEventId": "evt-1",
		"lastAttempt": map[string]any{"id": "atmpt_8", "responseStatusCode": 500.0, "timestamp": "1970-01-01T00:00:08.1Z"},
	}
	if got, _ := json.Marshal(ex.Data); string(got) != mustJSON(want) {
		t.Errorf("exhausted data %s\nwant %s", got, mustJSON(want))
	}
	if !ex.Timestamp.Equal(time.Unix(0, 8100e6)) {
		t.Errorf("exhausted timestamp %v, want the last attempt's", ex.Timestamp)
	}

	// A second send of the last attempt (a deposed leader's) is recorded,
	// but its delivery had already failed: no second notice.
	at := testAttempt("atmpt_9", StatusFail, 500, 9000e6)
	recordOutcome(t, s, Outcome{Key: last, AttemptNo: 8, Attempt: at, Final: StatusFail})
	if got := noticeTypes(notices(t, s)); len(got) != 3 {
		t.Fatalf("notices after a stray second send: %v, want no more", got)
	}

	// A manual resend that succeeds recovers the delivery, once.
	mustApply(t, s, func(tx *Tx) error { return tx.Resend(tApp, tMsg, tEpAll, 20_000) })
	rk := ScheduleKey{DueMs: 20_000, MsgID: tMsg, EndpointID: tEpAll}
	ok := testAttempt("atmpt_a", StatusSuccess, 200, 20_100e6)
	recordOutcome(t, s, Outcome{Key: rk, AttemptNo: 9, Attempt: ok, Final: StatusSuccess})
	recordOutcome(t, s, Outcome{Key: rk, AttemptNo: 9, Attempt: ok, Final: StatusSuccess})
	if got := noticeTypes(notices(t, s)); !slices.Equal(got[3:], []string{EventAttemptRecovered}) {
		t.Fatalf("notices after the success: %v, want recovered once", got)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestNoRecoveredWithoutFailing(t *testing.T) {
	s, k := noticeStore(t, true)
	k = failures(t, s, k, 1, 3, false)
	ok := testAttempt("atmpt_ok", StatusSuccess, 200, 9000e6)
	recordOutcome(t, s, Outcome{Key: k, AttemptNo: 4, Attempt: ok, Final: StatusSuccess})
	if got := noticeTypes(notices(t, s)); len(got) != 1 {
		t.Fatalf("notices: %v, want only the endpoint's creation", got)
	}
}

func TestEarlyFailureIsNotTheFourth(t *testing.T) {
	s, k := noticeStore(t, true)
	k = failures(t, s, k, 1, 4, false)
	// Attempt 5, sent ahead of its time by a catch-up, failed: it keeps
	// its place and number 4 (delivery.decide). Not a failure to tell.
	at := testAttempt("atmpt_e", StatusFail, 500, k.DueMs*1e6-500e6)
	recordOutcome(t, s, Outcome{Key: k, AttemptNo: 4, Attempt: at, NextDueMs: k.DueMs})
	if got := noticeTypes(notices(t, s)); !slices.Equal(got, []string{EventEndpointCreated, EventAttemptFailing}) {
		t.Fatalf("notices: %v, want one failing notice", got)
	}
}

func TestNoticesNeedAnOperationalEndpoint(t *testing.T) {
	s, k := noticeStore(t, false)
	failures(t, s, k, 1, 8, true)
	if kv := keysWithPrefix(dumpKV(t, s), pMessage+OpsAppID); len(kv) != 0 {
		t.Fatalf("notice messages without an operational endpoint: %v", kv)
	}
	if kv := keysWithPrefix(dumpKV(t, s), pApp+OpsAppID); len(kv) != 0 {
		t.Fatalf("hidden application made without an operational endpoint: %v", kv)
	}
	// The failing notice is remembered all the same, so a success after
	// an operational endpoint is added is told as a recovery.
	view(t, s, func(r *Reader) error {
		dl, err := r.Delivery(tApp, tMsg, tEpAll)
		if !dl.FailingNoticed {
			t.Errorf("delivery %+v: FailingNoticed not set", dl)
		}
		return err
	})
}

func TestNoticeFilterTypes(t *testing.T) {
	s, k := noticeStore(t, true, EventAttemptExhausted)
	failures(t, s, k, 1, 8, true)
	if got := noticeTypes(notices(t, s)); !slices.Equal(got, []string{EventAttemptExhausted}) {
		t.Fatalf("notices: %v, want only the exhausted one the filter takes", got)
	}
}

func TestNoticesOfEndpointChanges(t *testing.T) {
	s, _ := noticeStore(t, true)
	ep := testEndpoint(tApp, tEpAll, "")
	ep.Disabled, ep.UpdatedAt = true, 30e9
	mustApply(t, s, func(tx *Tx) error { return tx.UpdateEndpoint(ep) })
	ep.Disabled, ep.UpdatedAt = false, 40e9
	mustApply(t, s, func(tx *Tx) error { return tx.UpdateEndpoint(ep) })
	mustApply(t, s, func(tx *Tx) error { return tx.DeleteEndpoint(tApp, tEpAll, 50e9) })
	// Changes of the operational endpoint itself tell nothing.
	op := testEndpoint(OpsAppID, tOpsEp, "")
	op.Description, op.UpdatedAt = "changed", 60e9
	mustApply(t, s, func(tx *Tx) error { return tx.UpdateEndpoint(op) })

	ns := notices(t, s)
	// Notices of one time (updated and disabled) come in no set order.
	got := map[string][]string{}
	for _, n := range ns {
		at := n.Timestamp.Format(time.RFC3339Nano)
		got[at] = append(got[at], n.Type)
		slices.Sort(got[at])
		if n.Type == EventEndpointDisabled {
			if d := mustJSON(n.Data); d != `{"appId":"app_A","appUid":"acme","endpointId":"ep_1all","trigger":"manual"}` {
				t.Errorf("disabled data %s", d)
			}
		}
	}
	want := map[string][]string{
		"1970-01-01T00:00:00.00000002Z": {EventEndpointCreated},
		"1970-01-01T00:00:30Z":          {EventEndpointDisabled, EventEndpointUpdated},
		"1970-01-01T00:00:40Z":          {EventEndpointEnabled, EventEndpointUpdated},
		"1970-01-01T00:00:50Z":          {EventEndpointDeleted},
	}
	if mustJSON(got) != mustJSON(want) {
		t.Fatalf("notices by time: %v\nwant %v", got, want)
	}
}

func TestAutoDisable(t *testing.T) {
	const window = int64(10 * time.Second)
	s, k := noticeStore(t, true)
	fail := func(k ScheduleKey, n uint32, atNs int64) {
		at := testAttempt("atmpt_"+string(rune('0'+n)), StatusFail, 500, atNs)
		mustApply(t, s, func(tx *Tx) error {
			tx.RecordOutcomes([]Outcome{{Key: k, AttemptNo: n, Attempt: at, NextDueMs: atNs/1e6 + 1}}, true, window)
			return nil
		})
	}
	disabled := func() bool {
		var ep Endpoint
		view(t, s, func(r *Reader) (err error) { ep, err = r.Endpoint(tApp, tEpAll); return err })
		return ep.Disabled
	}
	fail(k, 1, 1e9)
	k.DueMs = 1e3 + 1
	// A success clears the failing-since time: the window starts again.
	mustApply(t, s, func(tx *Tx) error {
		tx.RecordOutcomes([]Outcome{{Key: k, AttemptNo: 2, Attempt: testAttempt("atmpt_ok", StatusSuccess, 200, 2e9), Final: StatusSuccess}}, true, window)
		return nil
	})
	mustApply(t, s, func(tx *Tx) error { return tx.Resend(tApp, tMsg, tEpAll, 3000) })
	k.DueMs = 3000
	fail(k, 3, 3e9)
	k.DueMs = 3001
	fail(k, 4, 1e9+window) // a window after the first failure, not after the one since the success
	if disabled() {
		t.Fatal("disabled, though it succeeded within the window")
	}
	k.DueMs = 1e3 + window/1e6 + 1
	fail(k, 5, 3e9+window-1)
	if disabled() {
		t.Fatal("disabled before the window was over")
	}
	k.DueMs = 3e3 + window/1e6
	fail(k, 6, 3e9+window)
	if !disabled() {
		t.Fatal("not disabled after failing for the whole window")
	}
	ns := notices(t, s)
	last := ns[len(ns)-1]
	if last.Type != EventEndpointDisabled {
		t.Fatalf("last notice %s, want endpoint.disabled", last.Type)
	}
	if got := mustJSON(last.Data); got != `{"appId":"app_A","appUid":"acme","endpointId":"ep_1all","failSince":"1970-01-01T00:00:03Z","trigger":"automatic"}` {
		t.Errorf("disabled data %s", got)
	}
	if kv := keysWithPrefix(dumpKV(t, s), pEpFailing); len(kv) != 0 {
		t.Errorf("failing-since kept after disabling: %v", kv)
	}
}

func TestNoticesAreDeterministic(t *testing.T) {
	run := func() map[string]string {
		s, k := noticeStore(t, true)
		failures(t, s, k, 1, 8, true)
		ep := testEndpoint(tApp, tEpAll, "")
		ep.Disabled, ep.UpdatedAt = true, 30e9
		mustApply(t, s, func(tx *Tx) error { return tx.UpdateEndpoint(ep) })
		return dumpState(t, s)
	}
	a, b := run(), run()
	assertSameState(t, a, b)
	if len(keysWithPrefix(a, pMessage+OpsAppID)) != 5 {
		t.Errorf("notices: %v", keysWithPrefix(a, pMessage+OpsAppID))
	}
}

func TestHiddenAppNotListed(t *testing.T) {
	s, _ := noticeStore(t, true)
	view(t, s, func(r *Reader) error {
		p, err := r.ListApps(ListOptions{})
		if len(p.Items) != 1 || p.Items[0].ID != tApp {
			t.Errorf("apps listed: %+v", p.Items)
		}
		if p.Iterator == OpsAppID || p.PrevIterator == "-"+OpsAppID {
			t.Errorf("list cursors name the hidden application: %q, %q", p.Iterator, p.PrevIterator)
		}
		return err
	})
}

// TestNoticesSnapshotAndRetention: the hidden application, its endpoints
// and its notices are state like any other: a snapshot carries them (and
// a restored node goes on making notices), and retention purges notices
// once delivered.
func TestNoticesSnapshotAndRetention(t *testing.T) {
	s, k := noticeStore(t, true)
	failures(t, s, k, 1, 8, true)
	want := dumpKV(t, s)

	s2 := openTestStore(t, "")
	if err := s2.RestoreFrom(bytes.NewReader(snapshotBytes(t, s))); err != nil {
		t.Fatalf("RestoreFrom: %v", err)
	}
	assertSameState(t, dumpKV(t, s2), want)
	mustApply(t, s2, func(tx *Tx) error { return tx.DeleteEndpoint(tApp, tEpAll, 100e9) })
	ns := notices(t, s2)
	if got := noticeTypes(ns); got[len(got)-1] != EventEndpointDeleted {
		t.Fatalf("notices after restore: %v, want endpoint.deleted last", got)
	}

	// Delivered, the notices go with the retention of records.
	for _, n := range ns {
		dk := ScheduleKey{MsgID: n.ID, EndpointID: tOpsEp}
		view(t, s2, func(r *Reader) error {
			dl, err := r.Delivery(OpsAppID, n.ID, tOpsEp)
			dk.DueMs = dl.NextAttempt / 1e6
			return err
		})
		at := Attempt{ID: "atmpt_" + n.ID, AppID: OpsAppID, MsgID: n.ID, EndpointID: tOpsEp, Timestamp: 200e9, Status: StatusSuccess, StatusCode: 200}
		recordOutcome(t, s2, Outcome{Key: dk, AttemptNo: 1, Attempt: at, Final: StatusSuccess})
	}
	if got := len(notices(t, s2)); got != len(ns) {
		t.Fatalf("recording the notices' deliveries made notices: %d, want %d", got, len(ns))
	}
	for cursor, first := "", true; first || cursor != ""; first = false {
		mustApply(t, s2, func(tx *Tx) error { _, cursor = tx.PurgeMessages(time.Now().UnixNano(), cursor, 100); return nil })
	}
	if left := keysWithPrefix(dumpKV(t, s2), pMessage+OpsAppID); len(left) != 0 {
		t.Fatalf("notices left after the purge: %v", left)
	}
}

// TestNoFailingSinceForADeletedEndpoint: an outcome recorded after its
// endpoint was deleted leaves no failing-since key behind, which nothing
// would ever remove.
func TestNoFailingSinceForADeletedEndpoint(t *testing.T) {
	s, k := noticeStore(t, false)
	mustApply(t, s, func(tx *Tx) error { return tx.DeleteEndpoint(tApp, tEpAll, 1) })
	failures(t, s, k, 1, 1, false)
	if kv := keysWithPrefix(dumpKV(t, s), pEpFailing); len(kv) != 0 {
		t.Fatalf("failing-since of a deleted endpoint: %v", kv)
	}
}

// TestAutoDisableNeedsAnUnbrokenRun: two failures further apart than a
// day (no traffic between them) are two runs, not days of failing.
func TestAutoDisableNeedsAnUnbrokenRun(t *testing.T) {
	const window = int64(10 * time.Second)
	s, k := noticeStore(t, true)
	fail := func(n uint32, atNs int64) {
		at := testAttempt("atmpt_gap"+string(rune('0'+n)), StatusFail, 500, atNs)
		mustApply(t, s, func(tx *Tx) error {
			tx.RecordOutcomes([]Outcome{{Key: k, AttemptNo: n, Attempt: at, NextDueMs: atNs/1e6 + 1}}, true, window)
			return nil
		})
		k.DueMs = atNs/1e6 + 1
	}
	disabled := func() bool {
		var ep Endpoint
		view(t, s, func(r *Reader) (err error) { ep, err = r.Endpoint(tApp, tEpAll); return err })
		return ep.Disabled
	}
	day := int64(24 * time.Hour)
	fail(1, 1e9)
	fail(2, 1e9+day+1) // past the window since the first, but a new run
	if disabled() {
		t.Fatal("disabled by two failures more than a day apart")
	}
	fail(3, 1e9+day+1+window/2)
	if disabled() {
		t.Fatal("disabled before the new run lasted the window")
	}
	fail(4, 1e9+day+1+window)
	if !disabled() {
		t.Fatal("not disabled after the new run lasted the window")
	}
}

// TestManualAttemptsMakeNoExhaustedNotice: a resend or recover that fails
// is not a retry running out; it makes no failing or exhausted notice.
func TestManualAttemptsMakeNoExhaustedNotice(t *testing.T) {
	s, k := noticeStore(t, true)
	before := len(notices(t, s))
	for n := uint32(1); n <= 5; n++ {
		at := testAttempt("atmpt_man"+string(rune('0'+n)), StatusFail, 500, int64(n)*1e9)
		at.Trigger = TriggerManual
		o := Outcome{Key: k, AttemptNo: n, Attempt: at, Final: StatusFail}
		mustApply(t, s, func(tx *Tx) error {
			if n > 1 {
				if err := tx.Resend(tApp, tMsg, tEpAll, k.DueMs); err != nil {
					return err
				}
			}
			tx.RecordOutcome(o)
			return nil
		})
	}
	if ns := notices(t, s); len(ns) != before {
		t.Fatalf("manual attempts made notices: %v", noticeTypes(ns[before:]))
	}
}

// TestOutcomesOfAnOlderLeader: an entry written without notices (by a
// leader of an older version) is applied as that version applied it: no
// run of failures kept, no notice flag, a 410 disables without a notice.
// Nodes of both versions then hold the same state.
func TestOutcomesOfAnOlderLeader(t *testing.T) {
	s, k := noticeStore(t, true)
	before := len(notices(t, s))
	for n := uint32(1); n <= 4; n++ {
		at := testAttempt("atmpt_old"+string(rune('0'+n)), StatusFail, 500, int64(n)*1e9)
		o := Outcome{Key: k, AttemptNo: n, Attempt: at, NextDueMs: k.DueMs + 1000}
		if n == 4 {
			o.NextDueMs, o.Final, o.DisableEndpoint = 0, StatusFail, true
		}
		mustApply(t, s, func(tx *Tx) error { tx.RecordOutcomes([]Outcome{o}, false, int64(time.Second)); return nil })
		k.DueMs += 1000
	}
	kv := dumpKV(t, s)
	if got := keysWithPrefix(kv, pEpFailing); len(got) != 0 {
		t.Errorf("run of failures kept: %v", got)
	}
	if ns := notices(t, s); len(ns) != before {
		t.Errorf("notices made: %v", noticeTypes(ns[before:]))
	}
	view(t, s, func(r *Reader) error {
		dl, err := r.Delivery(tApp, tMsg, tEpAll)
		if dl.FailingNoticed {
			t.Errorf("delivery %+v: notice flag set", dl)
		}
		ep, _ := r.Endpoint(tApp, tEpAll)
		if !ep.Disabled {
			t.Error("410 did not disable the endpoint")
		}
		return err
	})
}

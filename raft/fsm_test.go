package raft

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"slices"
	"strconv"
	"testing"

	hraft "github.com/hashicorp/raft"

	"github.com/herald-webhooks/herald/storage"
)

func newTestFSM(t *testing.T, hooks Hooks) (*FSM, *storage.Store) {
	t.Helper()
	s := openStateStore(t, "")
	return NewFSM(s, hooks, quietLogger(t)), s
}

// resultsEqual compares FSM responses, matching errors with errors.Is.
func resultsEqual(got, want any) bool {
	switch w := want.(type) {
	case nil:
		return got == nil
	case Result:
		g, ok := got.(Result)
		return ok && resultEqual(g, w)
	case []Result:
		g, ok := got.([]Result)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !resultEqual(g[i], w[i]) {
				return false
			}
		}
		return true
	}
	return false
}

func resultEqual(g, w Result) bool {
	if (g.Err == nil) != (w.Err == nil) || (w.Err != nil && !errors.Is(g.Err, w.Err)) {
		return false
	}
	g.Err, w.Err = nil, nil
	return reflect.DeepEqual(g, w)
}

// resultsBatch is a run of entries of several kinds with the responses the
// FSM must give.
func resultsBatch() ([]*hraft.Log, []any) {
	logs := []*hraft.Log{
		{Index: 1, Term: 1, Type: hraft.LogConfiguration, Data: []byte("configuration")},
		commandLog(2, &CreateApp{Meta: Meta{Time: 1}, App: testApp("app_1")}),
		commandLog(3, &CreateEndpoint{Meta: Meta{Time: 2}, Endpoint: testEndpoint("app_1", "ep_1")}),
		commandLog(4, &CreateMessages{Items: []MessageItem{
			{Meta: Meta{Time: 3}, Message: withEventID(testMessage("app_1", "msg_1", 1000), "evt")},
			{Meta: Meta{Time: 3}, Message: testMessage("app_none", "msg_2", 1000)},
			{Meta: Meta{Time: 3}, Message: withEventID(testMessage("app_1", "msg_3", 1000), "evt")},
		}}),
		commandLog(5, &PutEventType{Meta: Meta{Time: 4}, EventType: storage.EventType{Name: "e"}}),
		commandLog(6, &PutEventType{Meta: Meta{Time: 5}, EventType: storage.EventType{Name: "e", Description: "d"}}),
		commandLog(7, &DeleteApp{Meta: Meta{Time: 6}, AppID: "app_none"}),
		commandLog(8, &CreateApp{Meta: Meta{Time: 7}, App: testApp("app_1")}),
		commandLog(9, &RecordOutcomes{Outcomes: []storage.Outcome{{
			Key:       storage.ScheduleKey{DueMs: 1000, MsgID: "msg_1", EndpointID: "ep_1"},
			AttemptNo: 1, Attempt: storage.Attempt{ID: "atmpt_1", AppID: "app_1", MsgID: "msg_1", EndpointID: "ep_1", Status: storage.StatusSuccess},
			Final: storage.StatusSuccess,
		}}}),
		commandLog(10, &CreateEventType{Meta: Meta{Time: 8}, EventType: storage.EventType{Name: "e"}}),
	}
	want := []any{
		nil,
		Result{},
		Result{},
		[]Result{{Fanout: 1}, {Err: storage.ErrNotFound}, {Err: storage.ErrEventIDTaken, Existing: "msg_1"}},
		Result{Created: true},
		Result{},
		Result{Err: storage.ErrNotFound},
		Result{Err: storage.ErrConflict},
		Result{},
		Result{Err: storage.ErrConflict},
	}
	return logs, want
}

func withEventID(nm storage.NewMessage, id string) storage.NewMessage {
	nm.EventID = id
	return nm
}

func TestFSMApplyBatchResults(t *testing.T) {
	fsm, s := newTestFSM(t, Hooks{})
	logs, want := resultsBatch()
	got := fsm.ApplyBatch(logs)
	if len(got) != len(logs) {
		t.Fatalf("%d responses for %d entries", len(got), len(logs))
	}
	for i := range want {
		if !resultsEqual(got[i], want[i]) {
			t.Errorf("entry %d: response %#v, want %#v", logs[i].Index, got[i], want[i])
		}
	}
	if s.AppliedIndex() != 10 {
		t.Fatalf("AppliedIndex = %d, want 10", s.AppliedIndex())
	}
	readState(t, s, func(r *storage.Reader) error {
		if dl, err := r.Delivery("app_1", "msg_1", "ep_1"); err != nil || dl.Status != storage.StatusSuccess {
			t.Errorf("delivery = %+v, %v", dl, err)
		}
		if _, err := r.Message("app_1", "msg_3"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("message with a taken event id stored: %v", err)
		}
		if et, err := r.EventType("e"); err != nil || et.Description != "d" {
			t.Errorf("event type = %+v, %v", et, err)
		}
		return nil
	})
	// Apply (single entry) answers like ApplyBatch.
	if got := fsm.Apply(commandLog(11, &DeleteApp{AppID: "app_none"})); !resultsEqual(got, Result{Err: storage.ErrNotFound}) {
		t.Fatalf("Apply = %#v", got)
	}
}

func TestFSMReplayChangesNothing(t *testing.T) {
	fsm, s := newTestFSM(t, Hooks{})
	logs, _ := resultsBatch()
	fsm.ApplyBatch(logs)
	before := stateDump(t, s)

	// The whole run again, as after a restart that replays the log.
	for i, resp := range fsm.ApplyBatch(logs) {
		if resp != nil {
			t.Errorf("replayed entry %d answered %#v", logs[i].Index, resp)
		}
	}
	assertSameDump(t, stateDump(t, s), before)

	// Entry by entry, in separate batches.
	for _, l := range logs {
		if resp := fsm.ApplyBatch([]*hraft.Log{l})[0]; resp != nil {
			t.Errorf("replayed entry %d answered %#v", l.Index, resp)
		}
	}
	assertSameDump(t, stateDump(t, s), before)

	// A run that overlaps the applied index applies only what is new.
	tail := append(slices.Clone(logs[7:]), commandLog(11, &CreateApp{Meta: Meta{Time: 9}, App: testApp("app_2")}))
	got := fsm.ApplyBatch(tail)
	for i := range tail[:len(tail)-1] {
		if got[i] != nil {
			t.Errorf("replayed entry %d answered %#v", tail[i].Index, got[i])
		}
	}
	if !resultsEqual(got[len(got)-1], Result{}) {
		t.Fatalf("new entry answered %#v", got[len(got)-1])
	}
	if s.AppliedIndex() != 11 {
		t.Fatalf("AppliedIndex = %d, want 11", s.AppliedIndex())
	}
}

func TestFSMConfigurationEntriesOnlyAdvanceTheIndex(t *testing.T) {
	fsm, s := newTestFSM(t, Hooks{})
	fsm.ApplyBatch([]*hraft.Log{commandLog(1, &PutNode{Node: storage.Node{ID: "n"}})})
	before := stateDump(t, s)
	got := fsm.ApplyBatch([]*hraft.Log{
		{Index: 2, Type: hraft.LogConfiguration, Data: []byte{0xff}},
		{Index: 3, Type: hraft.LogConfiguration},
	})
	if got[0] != nil || got[1] != nil {
		t.Fatalf("responses %#v", got)
	}
	if s.AppliedIndex() != 3 {
		t.Fatalf("AppliedIndex = %d, want 3", s.AppliedIndex())
	}
	// Only the applied index changed (in the header and in meta/applied):
	// its 8-byte value went from 1 to 3.
	want := bytes.ReplaceAll(before, []byte("\x00\x00\x00\x00\x00\x00\x00\x01"),
		[]byte("\x00\x00\x00\x00\x00\x00\x00\x03"))
	if bytes.Equal(want, before) {
		t.Fatalf("applied index not found in the dump %q", before)
	}
	assertSameDump(t, stateDump(t, s), want)
}

func TestFSMIdempotency(t *testing.T) {
	const sec = int64(1e9)
	t0 := 1_700_000_000 * sec
	idem := func(hash, body string, at int64) Meta {
		return Meta{Time: at, Idem: &Idem{Hash: []byte(hash), Status: 201, Body: []byte(body), ExpiresMs: (at + 60*sec) / 1e6}}
	}
	tests := []struct {
		name      string
		cmd       Command
		want      any
		wantApp   string // an app that must exist afterwards
		wantNoApp string // an app that must not
	}{
		{"first request", &CreateApp{Meta: idem("H", "first", t0), App: testApp("app_1")},
			Result{}, "app_1", ""},
		{"repeat within the ttl replays", &CreateApp{Meta: idem("H", "second", t0+sec), App: testApp("app_2")},
			Result{Replay: &storage.IdempotentResponse{Status: 201, Body: []byte("first"), CreatedAt: t0}}, "", "app_2"},
		{"another command type with the key replays", &DeleteApp{Meta: idem("H", "x", t0+2*sec), AppID: "app_1"},
			Result{Replay: &storage.IdempotentResponse{Status: 201, Body: []byte("first"), CreatedAt: t0}}, "app_1", ""},
		{"another key runs", &CreateApp{Meta: idem("K", "k", t0+3*sec), App: testApp("app_3")},
			Result{}, "app_3", ""},
		{"a failure stores no response", &CreateApp{Meta: idem("F", "f", t0+4*sec), App: testApp("app_1")},
			Result{Err: storage.ErrConflict}, "", ""},
		{"so a retry of the failed key runs", &CreateApp{Meta: idem("F", "f2", t0+5*sec), App: testApp("app_4")},
			Result{}, "app_4", ""},
		{"past the ttl the key is fresh", &CreateApp{Meta: idem("H", "third", t0+61*sec), App: testApp("app_5")},
			Result{}, "app_5", ""},
		{"and then replays the new response", &CreateApp{Meta: idem("H", "fourth", t0+62*sec), App: testApp("app_6")},
			Result{Replay: &storage.IdempotentResponse{Status: 201, Body: []byte("third"), CreatedAt: t0 + 61*sec}}, "", "app_6"},
		{"messages replay too", &CreateMessages{Items: []MessageItem{
			{Meta: idem("M", "m1", t0+63*sec), Message: testMessage("app_1", "msg_1", 1)},
			{Meta: idem("M", "m2", t0+64*sec), Message: testMessage("app_1", "msg_2", 1)},
		}}, []Result{{}, {Replay: &storage.IdempotentResponse{Status: 201, Body: []byte("m1"), CreatedAt: t0 + 63*sec}}}, "", ""},
	}
	fsm, s := newTestFSM(t, Hooks{})
	for i, tc := range tests {
		before := stateDump(t, s)
		got := fsm.ApplyBatch([]*hraft.Log{commandLog(uint64(i+1), tc.cmd)})[0]
		if !resultsEqual(got, tc.want) {
			t.Fatalf("%s: response %#v, want %#v", tc.name, got, tc.want)
		}
		readState(t, s, func(r *storage.Reader) error {
			if tc.wantApp != "" {
				if _, err := r.App(tc.wantApp); err != nil {
					t.Errorf("%s: app %s: %v", tc.name, tc.wantApp, err)
				}
			}
			if tc.wantNoApp != "" {
				if _, err := r.App(tc.wantNoApp); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("%s: app %s exists (%v)", tc.name, tc.wantNoApp, err)
				}
			}
			return nil
		})
		if res, ok := tc.want.(Result); ok && res.Replay != nil {
			// A replay writes nothing but the applied index.
			assertSameDump(t, withoutApplied(stateDump(t, s)), withoutApplied(before))
		}
	}
	readState(t, s, func(r *storage.Reader) error {
		if _, err := r.Message("app_1", "msg_2"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("replayed message stored: %v", err)
		}
		return nil
	})
}

// TestFSMIdempotentReapplication re-applies an entry on its own writes, as
// after a crash that followed a partial commit: its idempotency record is
// its own, so it runs again instead of answering with a replay.
func TestFSMIdempotentReapplication(t *testing.T) {
	fsm, s := newTestFSM(t, Hooks{})
	fsm.ApplyBatch([]*hraft.Log{
		commandLog(1, &CreateApp{App: testApp("app_1")}),
		commandLog(2, &CreateEndpoint{Endpoint: testEndpoint("app_1", "ep_1")}),
	})
	cmd := &CreateMessages{Items: []MessageItem{{
		Meta:    Meta{Time: 5e9, Idem: &Idem{Hash: []byte("H"), Status: 202, Body: []byte("b"), ExpiresMs: 60_000}},
		Message: withEventID(testMessage("app_1", "msg_1", 5000), "evt"),
	}}}
	first := fsm.ApplyBatch([]*hraft.Log{commandLog(3, cmd)})[0]
	want := []Result{{Fanout: 1}}
	if !resultsEqual(first, want) {
		t.Fatalf("first = %#v", first)
	}
	before := stateDump(t, s)
	again := fsm.ApplyBatch([]*hraft.Log{commandLog(4, cmd)})[0]
	if !resultsEqual(again, want) {
		t.Fatalf("re-applied = %#v, want %#v", again, want)
	}
	// Same keys and values; only the applied index moved.
	after := stateDump(t, s)
	if bytes.Equal(after, before) {
		t.Fatalf("applied index did not move")
	}
	assertSameDump(t, withoutApplied(after), withoutApplied(before))
}

func TestFSMScheduledHook(t *testing.T) {
	var calls []int64
	fsm, _ := newTestFSM(t, Hooks{Scheduled: func(ms int64) { calls = append(calls, ms) }})
	fsm.ApplyBatch([]*hraft.Log{
		commandLog(1, &CreateApp{App: testApp("app_1")}),
		commandLog(2, &CreateEndpoint{Endpoint: testEndpoint("app_1", "ep_1")}),
	})
	if len(calls) != 0 {
		t.Fatalf("Scheduled called without schedule keys: %v", calls)
	}
	late := testMessage("app_1", "msg_1", 5000)
	late.DeliverAt = 10_000e6
	logs := []*hraft.Log{
		commandLog(3, &CreateMessages{Items: []MessageItem{{Message: late}, {Message: testMessage("app_1", "msg_2", 7000)}}}),
		commandLog(4, &CreateMessages{Items: []MessageItem{{Message: testMessage("app_1", "msg_3", 3000)}}}),
	}
	fsm.ApplyBatch(logs)
	if !slices.Equal(calls, []int64{3000}) {
		t.Fatalf("Scheduled calls = %v, want [3000]", calls)
	}
	fsm.ApplyBatch(logs) // replay: writes nothing, wakes nobody
	fsm.ApplyBatch([]*hraft.Log{commandLog(5, &Resend{Meta: Meta{Time: 42_000e6}, AppID: "app_1", MsgID: "msg_1", EndpointID: "ep_1"})})
	if !slices.Equal(calls, []int64{3000, 42_000}) {
		t.Fatalf("Scheduled calls = %v, want [3000 42000]", calls)
	}
}

// TestFSMCommandEffects applies every command type once and checks what it
// did to the state.
func TestFSMCommandEffects(t *testing.T) {
	fsm, s := newTestFSM(t, Hooks{})
	idx := uint64(0)
	apply := func(cmd Command) any {
		idx++
		return fsm.ApplyBatch([]*hraft.Log{commandLog(idx, cmd)})[0]
	}
	ok := func(cmd Command) {
		t.Helper()
		if res := apply(cmd); !resultsEqual(res, Result{}) {
			t.Fatalf("%T = %#v", cmd, res)
		}
	}
	ok(&CreateApp{App: storage.App{ID: "app_1", UID: "u1", Name: "one"}})
	ok(&UpdateApp{App: storage.App{ID: "app_1", UID: "u2", Name: "uno"}})
	ok(&CreateEndpoint{Endpoint: testEndpoint("app_1", "ep_1")})
	ok(&CreateEndpoint{Endpoint: testEndpoint("app_1", "ep_2")})
	ok(&UpdateEndpoint{Endpoint: storage.Endpoint{ID: "ep_1", AppID: "app_1", URL: "https://changed/"}})
	ok(&DeleteEndpoint{AppID: "app_1", EndpointID: "ep_2"})
	ok(&CreateEventType{EventType: storage.EventType{Name: "a"}})
	ok(&DeleteEventType{Meta: Meta{Time: 77}, Name: "a"})
	if res := apply(&CreateMessages{Items: []MessageItem{{Message: testMessage("app_1", "msg_1", 1000)}}}); !resultsEqual(res, []Result{{Fanout: 1}}) {
		t.Fatalf("CreateMessages = %#v", res)
	}
	ok(&RecordOutcomes{Outcomes: []storage.Outcome{{
		Key: storage.ScheduleKey{DueMs: 1000, MsgID: "msg_1", EndpointID: "ep_1"}, AttemptNo: 1,
		Attempt:   storage.Attempt{ID: "atmpt_1", AppID: "app_1", MsgID: "msg_1", EndpointID: "ep_1", StatusCode: 500, Status: storage.StatusFail},
		NextDueMs: 6000,
	}}})
	ok(&Resend{Meta: Meta{Time: 9_000_123_456}, AppID: "app_1", MsgID: "msg_1", EndpointID: "ep_1"})
	ok(&SetAdminHash{Hash: []byte("admin")})
	ok(&PutNode{Node: storage.Node{ID: "n1", RaftAddr: "r1"}})
	ok(&PutNode{Node: storage.Node{ID: "n2", RaftAddr: "r2"}})
	ok(&DeleteNode{ID: "n1"})
	ok(&PutNode{Node: storage.Node{ID: "n3", RaftAddr: "r3"}})
	ok(&RemoveNode{ID: "n3", At: 5})
	ok(&RemoveNode{ID: "n4", At: 6})
	ok(&AllowRejoin{ID: "n4"})
	if res := apply(&AllowRejoin{ID: "n4"}); !resultsEqual(res, Result{Err: storage.ErrNotFound}) {
		t.Fatalf("AllowRejoin of a node not removed = %#v, want ErrNotFound", res)
	}

	readState(t, s, func(r *storage.Reader) error {
		if a, err := r.App("u2"); err != nil || a.Name != "uno" {
			t.Errorf("app by new uid = %+v, %v", a, err)
		}
		if _, err := r.App("u1"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("old uid still resolves: %v", err)
		}
		if ep, err := r.Endpoint("app_1", "ep_1"); err != nil || ep.URL != "https://changed/" {
			t.Errorf("endpoint = %+v, %v", ep, err)
		}
		if _, err := r.Endpoint("app_1", "ep_2"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("deleted endpoint: %v", err)
		}
		if et, err := r.EventType("a"); err != nil || !et.Archived || et.UpdatedAt != 77 {
			t.Errorf("event type = %+v, %v", et, err)
		}
		if at, err := r.Attempt("app_1", "msg_1", "atmpt_1"); err != nil || at.StatusCode != 500 {
			t.Errorf("attempt = %+v, %v", at, err)
		}
		entries, _, err := r.DueEntries(nil, 1<<40, 10)
		if err != nil {
			return err
		}
		// The manual resend at the command's time replaced the retry that
		// was pending at 6000 ms: one retry chain, never two.
		want := []storage.ScheduleEntry{
			{Key: storage.ScheduleKey{DueMs: 9000, MsgID: "msg_1", EndpointID: "ep_1"}, Due: storage.Due{AppID: "app_1", Attempt: 2, Trigger: storage.TriggerManual}},
		}
		if !reflect.DeepEqual(entries, want) {
			t.Errorf("schedule = %+v, want %+v", entries, want)
		}
		if h := r.AdminHash(); string(h) != "admin" {
			t.Errorf("admin hash = %q", h)
		}
		if nodes, err := r.Nodes(); err != nil || len(nodes) != 1 || nodes[0].ID != "n2" {
			t.Errorf("nodes = %+v, %v", nodes, err)
		}
		if removed, err := r.RemovedNodes(); err != nil || !reflect.DeepEqual(removed, []storage.RemovedNode{{ID: "n3", At: 5}}) {
			t.Errorf("removed nodes = %+v, %v", removed, err)
		}
		return nil
	})

	// Expire, and DeleteApp last.
	ok(&CreateApp{Meta: Meta{Time: 1e9, Idem: &Idem{Hash: []byte("H"), ExpiresMs: 2000}}, App: testApp("app_2")})
	ok(&Expire{NowMs: 1999, Limit: 10})
	readState(t, s, func(r *storage.Reader) error {
		if _, ok := r.Idempotent([]byte("H")); !ok {
			t.Errorf("idempotency record expired early")
		}
		return nil
	})
	if res := apply(&Expire{NowMs: 2000, Limit: 10}); !resultsEqual(res, Result{Count: 1}) {
		t.Fatalf("Expire = %#v, want one record deleted", res)
	}
	ok(&DeleteApp{AppID: "app_1"})
	readState(t, s, func(r *storage.Reader) error {
		if _, ok := r.Idempotent([]byte("H")); ok {
			t.Errorf("idempotency record not expired")
		}
		if _, err := r.App("app_1"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("deleted app: %v", err)
		}
		return nil
	})
}

func TestFSMPanicsOnUndecodableCommand(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"garbage body", []byte{byte(CmdCreateApp), 0xff}},
		{"unknown type", []byte{200, 1, 2}},
		{"empty", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Not closed: the panic leaves the batch holding the store, as
			// it would on a node that is about to crash.
			s, err := storage.Open(t.TempDir(), quietLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			fsm := NewFSM(s, Hooks{}, quietLogger(t))
			defer func() {
				if recover() == nil {
					t.Fatalf("ApplyBatch did not panic")
				}
			}()
			fsm.ApplyBatch([]*hraft.Log{{Index: 1, Type: hraft.LogCommand, Data: tc.data}})
		})
	}
}

func TestFSMSnapshotAndRestore(t *testing.T) {
	fsm, s := newTestFSM(t, Hooks{})
	logs, _ := resultsBatch()
	fsm.ApplyBatch(logs)
	want := stateDump(t, s)

	snap, err := fsm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Later entries are not in the snapshot.
	fsm.ApplyBatch([]*hraft.Log{commandLog(11, &CreateApp{App: testApp("app_later")})})
	var sink bufferSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if !sink.closed || sink.canceled {
		t.Fatalf("sink closed %v, canceled %v", sink.closed, sink.canceled)
	}

	restored := 0
	fsm2, s2 := newTestFSM(t, Hooks{Restored: func() { restored++ }})
	fsm2.ApplyBatch([]*hraft.Log{commandLog(1, &CreateApp{App: testApp("app_only_here")})})
	if err := fsm2.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	assertSameDump(t, stateDump(t, s2), want)
	if s2.AppliedIndex() != 10 || restored != 1 {
		t.Fatalf("AppliedIndex %d, Restored called %d times", s2.AppliedIndex(), restored)
	}

	t.Run("failed restore keeps the state and skips the hook", func(t *testing.T) {
		if err := fsm2.Restore(io.NopCloser(bytes.NewReader([]byte("junk")))); err == nil {
			t.Fatalf("Restore of junk succeeded")
		}
		assertSameDump(t, stateDump(t, s2), want)
		if restored != 1 {
			t.Fatalf("Restored called after a failed restore")
		}
	})
	t.Run("failed persist cancels the sink", func(t *testing.T) {
		snap, err := fsm.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		defer snap.Release()
		sink := &bufferSink{failWrites: true}
		if err := snap.Persist(sink); err == nil {
			t.Fatalf("Persist into a failing sink succeeded")
		}
		if !sink.canceled || sink.closed {
			t.Fatalf("sink closed %v, canceled %v", sink.closed, sink.canceled)
		}
	})
}

// TestFSMAutoDisableWindowFromCommand: the auto-disable window applied is
// the one stamped in the command (the leader's), not a node's own.
func TestFSMAutoDisableWindowFromCommand(t *testing.T) {
	fsm, s := newTestFSM(t, Hooks{})
	idx := uint64(0)
	apply := func(cmd Command) {
		idx++
		fsm.ApplyBatch([]*hraft.Log{commandLog(idx, cmd)})
	}
	apply(&CreateApp{App: testApp("app_1")})
	apply(&CreateEndpoint{Endpoint: testEndpoint("app_1", "ep_1")})
	apply(&CreateMessages{Items: []MessageItem{{Message: testMessage("app_1", "msg_1", 1000)}}})
	fail := func(dueMs, atNs int64, window int64) {
		apply(&RecordOutcomes{Notices: true, AutoDisableNs: window, Outcomes: []storage.Outcome{{
			Key: storage.ScheduleKey{DueMs: dueMs, MsgID: "msg_1", EndpointID: "ep_1"}, AttemptNo: 1,
			Attempt:   storage.Attempt{ID: "atmpt_" + strconv.FormatInt(atNs, 10), AppID: "app_1", MsgID: "msg_1", EndpointID: "ep_1", Timestamp: atNs, StatusCode: 500, Status: storage.StatusFail},
			NextDueMs: dueMs + 1,
		}}})
	}
	disabled := func() bool {
		var ep storage.Endpoint
		readState(t, s, func(r *storage.Reader) (err error) { ep, err = r.Endpoint("app_1", "ep_1"); return err })
		return ep.Disabled
	}
	fail(1000, 1e9, 0)
	fail(1001, 1e12, 0) // no window in the command: never disabled
	if disabled() {
		t.Fatal("disabled by a command without a window")
	}
	fail(1002, 1e12+1, 1e12)
	if disabled() {
		t.Fatal("disabled before the command's window was over")
	}
	fail(1003, 1e12+1e9, 1e12)
	if !disabled() {
		t.Fatal("not disabled once the command's window was over")
	}
}

// TestFSMOneOffDestinationAndAppSecret: a message naming a destination gets
// a delivery under the destination's id besides its endpoints', and
// SetAppSecret gives a secret once with IfAbsent and replaces it without.
func TestFSMOneOffDestinationAndAppSecret(t *testing.T) {
	fsm, s := newTestFSM(t, Hooks{})
	idx := uint64(0)
	apply := func(cmd Command) any {
		idx++
		return fsm.ApplyBatch([]*hraft.Log{commandLog(idx, cmd)})[0]
	}
	apply(&CreateApp{App: testApp("app_1")})
	apply(&CreateEndpoint{Endpoint: testEndpoint("app_1", "ep_1")})
	for _, c := range []*SetAppSecret{
		{Meta: Meta{Time: 5}, AppID: "app_1", Secret: "first", IfAbsent: true},
		{Meta: Meta{Time: 6}, AppID: "app_1", Secret: "not taken", IfAbsent: true},
	} {
		if res := apply(c); !resultsEqual(res, Result{}) {
			t.Fatalf("SetAppSecret = %#v", res)
		}
	}
	if res := apply(&SetAppSecret{AppID: "app_9", Secret: "x"}); !resultsEqual(res, Result{Err: storage.ErrNotFound}) {
		t.Fatalf("SetAppSecret of a missing app = %#v", res)
	}
	m := testMessage("app_1", "msg_1", 1000)
	dst := storage.DestinationID("app_1", "https://jobs.example/42")
	m.Destination = storage.Destination{ID: dst, URL: "https://jobs.example/42"}
	if res := apply(&CreateMessages{Items: []MessageItem{{Message: m}}}); !resultsEqual(res, []Result{{Fanout: 2}}) {
		t.Fatalf("CreateMessages = %#v, want the endpoint and the destination", res)
	}
	readState(t, s, func(r *storage.Reader) error {
		if a, err := r.App("app_1"); err != nil || a.Secret != "first" || a.UpdatedAt != 5 {
			t.Errorf("app after SetAppSecret = %+v, %v", a, err)
		}
		got, err := r.Message("app_1", "msg_1")
		if err != nil || got.Destination != m.Destination {
			t.Errorf("stored message = %+v, %v", got, err)
		}
		entries, _, err := r.DueEntries(nil, 1<<40, 10)
		if err != nil {
			return err
		}
		var ids []string
		for _, e := range entries {
			ids = append(ids, e.Key.EndpointID)
		}
		if !reflect.DeepEqual(ids, []string{dst, "ep_1"}) {
			t.Errorf("schedule holds %q, want the destination and the endpoint", ids)
		}
		return nil
	})
}

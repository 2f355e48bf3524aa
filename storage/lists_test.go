package storage

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// pageOf is what a test checks of a page: the item ids and the cursors.
type pageOf struct {
	IDs          []string
	Iterator     string
	PrevIterator string
	Done         bool
}

func summarize[T any](p Page[T], id func(T) string) pageOf {
	s := pageOf{Iterator: p.Iterator, PrevIterator: p.PrevIterator, Done: p.Done}
	for _, it := range p.Items {
		s.IDs = append(s.IDs, id(it))
	}
	return s
}

func appID(a App) string            { return a.ID }
func msgID(m Message) string        { return m.ID }
func attID(a Attempt) string        { return a.ID }
func epID(e Endpoint) string        { return e.ID }
func dlEpID(d Delivery) string      { return d.EndpointID }
func etName(e EventType) string     { return e.Name }
func emID(e EndpointMessage) string { return e.Message.ID }

// secondsAfter returns n times one second apart from baseTime.
func secondsAfter(n int) []time.Time {
	ts := make([]time.Time, n)
	for i := range ts {
		ts[i] = baseTime.Add(time.Duration(i) * time.Second)
	}
	return ts
}

func TestListAppsPagination(t *testing.T) {
	s := openTestStore(t, "")
	ids := idsAt(PrefixApp, secondsAfter(7)...)
	mustApply(t, s, func(tx *Tx) error {
		// Created out of order: the list is in id order regardless.
		for _, i := range []int{3, 0, 6, 1, 5, 2, 4} {
			if err := tx.CreateApp(App{ID: ids[i], Name: ids[i]}); err != nil {
				return err
			}
		}
		return nil
	})
	list := func(opts ListOptions) pageOf {
		var p Page[App]
		view(t, s, func(r *Reader) (err error) { p, err = r.ListApps(opts); return err })
		return summarize(p, appID)
	}
	steps := []struct {
		name string
		opts ListOptions
		want pageOf
	}{
		{"first page", ListOptions{Limit: 3},
			pageOf{IDs: ids[0:3], Iterator: ids[2], PrevIterator: "-" + ids[0]}},
		{"second page", ListOptions{Limit: 3, Iterator: ids[2]},
			pageOf{IDs: ids[3:6], Iterator: ids[5], PrevIterator: "-" + ids[3]}},
		{"last page", ListOptions{Limit: 3, Iterator: ids[5]},
			pageOf{IDs: ids[6:7], Iterator: ids[6], PrevIterator: "-" + ids[6], Done: true}},
		{"past the end", ListOptions{Limit: 3, Iterator: ids[6]},
			pageOf{Done: true}},
		{"back from the last page", ListOptions{Limit: 3, Iterator: "-" + ids[6]},
			pageOf{IDs: ids[3:6], Iterator: ids[5], PrevIterator: "-" + ids[3]}},
		{"back again", ListOptions{Limit: 3, Iterator: "-" + ids[3]},
			pageOf{IDs: ids[0:3], Iterator: ids[2], PrevIterator: "-" + ids[0], Done: true}},
		{"back from the first", ListOptions{Limit: 3, Iterator: "-" + ids[0]},
			pageOf{Done: true}},
		{"exact fit", ListOptions{Limit: 7},
			pageOf{IDs: ids, Iterator: ids[6], PrevIterator: "-" + ids[0], Done: true}},
		{"default limit", ListOptions{},
			pageOf{IDs: ids, Iterator: ids[6], PrevIterator: "-" + ids[0], Done: true}},
		{"descending", ListOptions{Limit: 4, Descending: true},
			pageOf{IDs: []string{ids[6], ids[5], ids[4], ids[3]}, Iterator: ids[3], PrevIterator: "-" + ids[6]}},
		{"descending next", ListOptions{Limit: 4, Descending: true, Iterator: ids[3]},
			pageOf{IDs: []string{ids[2], ids[1], ids[0]}, Iterator: ids[0], PrevIterator: "-" + ids[2], Done: true}},
		// Done on a page walked backwards: nothing further back.
		{"descending back", ListOptions{Limit: 4, Descending: true, Iterator: "-" + ids[2]},
			pageOf{IDs: []string{ids[6], ids[5], ids[4], ids[3]}, Iterator: ids[3], PrevIterator: "-" + ids[6], Done: true}},
		{"descending back, more before", ListOptions{Limit: 2, Descending: true, Iterator: "-" + ids[2]},
			pageOf{IDs: []string{ids[4], ids[3]}, Iterator: ids[3], PrevIterator: "-" + ids[4]}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if got := list(st.opts); !reflect.DeepEqual(got, st.want) {
				t.Fatalf("page:\n got %+v\nwant %+v", got, st.want)
			}
		})
	}

	t.Run("walk forward and back", func(t *testing.T) {
		var seen []string
		opts := ListOptions{Limit: 2}
		var last pageOf
		for range 10 {
			last = list(opts)
			seen = append(seen, last.IDs...)
			if last.Done {
				break
			}
			opts.Iterator = last.Iterator
		}
		if !slices.Equal(seen, ids) {
			t.Fatalf("forward walk = %v, want %v", seen, ids)
		}
		var back []string
		opts = ListOptions{Limit: 2, Iterator: last.PrevIterator}
		for range 10 {
			p := list(opts)
			back = append(slices.Clone(p.IDs), back...)
			if p.Done || p.PrevIterator == "" {
				break
			}
			opts.Iterator = p.PrevIterator
		}
		if !slices.Equal(back, ids[:6]) {
			t.Fatalf("backward walk = %v, want %v", back, ids[:6])
		}
	})
}

// messageStore holds messages one second apart from baseTime, in app tApp.
func messageStore(t *testing.T, msgs []Message) (*Store, []string) {
	t.Helper()
	s := openTestStore(t, "")
	ids := idsAt(PrefixMessage, secondsAfter(len(msgs))...)
	mustApply(t, s, func(tx *Tx) error {
		if err := tx.CreateApp(testApp(tApp, "")); err != nil {
			return err
		}
		for i, m := range msgs {
			m.ID, m.AppID = ids[i], tApp
			if _, _, err := tx.CreateMessage(NewMessage{Message: m}); err != nil {
				return err
			}
		}
		return nil
	})
	return s, ids
}

func TestListMessagesOrderAndBounds(t *testing.T) {
	s, ids := messageStore(t, make([]Message, 5)) // at base+0s .. base+4s
	list := func(opts ListOptions) pageOf {
		var p Page[Message]
		view(t, s, func(r *Reader) (err error) { p, err = r.ListMessages(tApp, MessageFilter{}, opts); return err })
		return summarize(p, msgID)
	}
	at := func(sec int) time.Time { return baseTime.Add(time.Duration(sec) * time.Second) }
	rev := func(in ...string) []string { out := slices.Clone(in); slices.Reverse(out); return out }
	tests := []struct {
		name string
		opts ListOptions
		want []string
		done bool
	}{
		// The API asks for newest first on messages (Descending: true).
		{"newest first", ListOptions{Descending: true}, rev(ids...), true},
		{"oldest first", ListOptions{}, ids, true},
		{"after, ascending", ListOptions{After: at(1)}, ids[2:], true},
		{"after, descending", ListOptions{After: at(1), Descending: true}, rev(ids[2:]...), true},
		{"before, ascending", ListOptions{Before: at(3)}, ids[:3], true},
		{"before, descending", ListOptions{Before: at(3), Descending: true}, rev(ids[:3]...), true},
		{"between", ListOptions{After: at(0), Before: at(4)}, ids[1:4], true},
		{"between, descending", ListOptions{After: at(0), Before: at(4), Descending: true}, rev(ids[1:4]...), true},
		{"between with a limit", ListOptions{After: at(0), Before: at(4), Limit: 2}, ids[1:3], false},
		{"between, continued", ListOptions{After: at(0), Before: at(4), Limit: 2, Iterator: ids[2]}, ids[3:4], true},
		{"empty range", ListOptions{After: at(2), Before: at(3)}, nil, true},
		{"after the last", ListOptions{After: at(4)}, nil, true},
		{"before the first", ListOptions{Before: at(0), Descending: true}, nil, true},
		{"bounds far outside", ListOptions{After: at(-100), Before: at(100)}, ids, true},
		// Ids carry whole seconds: an id of second 3 was made before 3.5s,
		// and one of second 1 is not known to be after 1.5s.
		{"before, sub-second, ascending", ListOptions{Before: at(3).Add(500 * time.Millisecond)}, ids[:4], true},
		{"before, sub-second, descending", ListOptions{Before: at(3).Add(500 * time.Millisecond), Descending: true}, rev(ids[:4]...), true},
		{"after, sub-second, ascending", ListOptions{After: at(1).Add(500 * time.Millisecond)}, ids[2:], true},
		{"after, sub-second, descending", ListOptions{After: at(1).Add(500 * time.Millisecond), Descending: true}, rev(ids[2:]...), true},
		// Svix: newest first with after and no iterator gives the items
		// right after the time, not the newest ones; done says whether
		// newer items remain.
		{"after, descending, limited", ListOptions{After: at(0), Descending: true, Limit: 2}, rev(ids[1:3]...), false},
		{"after, descending, limited to the end", ListOptions{After: at(2), Descending: true, Limit: 2}, rev(ids[3:5]...), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := list(tc.opts)
			if !slices.Equal(got.IDs, tc.want) || got.Done != tc.done {
				t.Fatalf("ids %v done %v; want %v done %v", got.IDs, got.Done, tc.want, tc.done)
			}
		})
	}
}

func TestListMessagesFilter(t *testing.T) {
	s, ids := messageStore(t, []Message{
		{EventType: "a", Channels: []string{"eu"}, Tags: []string{"t1"}},
		{EventType: "b", Channels: []string{"us"}},
		{EventType: "a", Tags: []string{"t2", "t1"}},
		{EventType: "c", Channels: []string{"eu", "us"}, Tags: []string{"t2"}},
		{EventType: "b"},
	})
	tests := []struct {
		name   string
		filter MessageFilter
		want   []int
	}{
		{"none", MessageFilter{}, []int{0, 1, 2, 3, 4}},
		{"one type", MessageFilter{EventTypes: []string{"a"}}, []int{0, 2}},
		{"types", MessageFilter{EventTypes: []string{"b", "c"}}, []int{1, 3, 4}},
		{"channel", MessageFilter{Channel: "eu"}, []int{0, 3}},
		{"tag", MessageFilter{Tag: "t1"}, []int{0, 2}},
		{"all three", MessageFilter{EventTypes: []string{"a", "c"}, Channel: "eu", Tag: "t2"}, []int{3}},
		{"nothing matches", MessageFilter{Tag: "none"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, i := range tc.want {
				want = append(want, ids[i])
			}
			// Page one at a time: the filter must hold across pages.
			var got []string
			opts := ListOptions{Limit: 1}
			for range 10 {
				var p Page[Message]
				view(t, s, func(r *Reader) (err error) { p, err = r.ListMessages(tApp, tc.filter, opts); return err })
				got = append(got, summarize(p, msgID).IDs...)
				if p.Done {
					break
				}
				opts.Iterator = p.Iterator
			}
			if !slices.Equal(got, want) {
				t.Fatalf("ids %v, want %v", got, want)
			}
		})
	}
	t.Run("payload is a copy", func(t *testing.T) {
		var p Page[Message]
		view(t, s, func(r *Reader) (err error) { p, err = r.ListMessages(tApp, MessageFilter{}, ListOptions{}); return err })
		if len(p.Items) != 5 || p.Items[0].EventType != "a" || !slices.Equal(p.Items[0].Tags, []string{"t1"}) {
			t.Fatalf("items = %+v", p.Items)
		}
	})
}

// attemptStore holds one message sent to two endpoints with attempts of
// several outcomes.
func attemptStore(t *testing.T) (*Store, string, []Attempt) {
	t.Helper()
	s := openTestStore(t, "")
	msg := idsAt(PrefixMessage, baseTime)[0]
	attIDs := idsAt(PrefixAttempt, secondsAfter(6)...)
	atts := []Attempt{
		{StatusCode: 200, Status: StatusSuccess, EndpointID: "ep_1"},
		{StatusCode: 500, Status: StatusFail, EndpointID: "ep_1"},
		{StatusCode: 0, Status: StatusFail, EndpointID: "ep_2", Error: "timeout"},
		{StatusCode: 404, Status: StatusFail, EndpointID: "ep_2"},
		{StatusCode: 201, Status: StatusSuccess, EndpointID: "ep_2"},
		{StatusCode: 302, Status: StatusFail, EndpointID: "ep_1"},
	}
	mustApply(t, s, func(tx *Tx) error {
		if err := tx.CreateApp(testApp(tApp, "")); err != nil {
			return err
		}
		for _, ep := range []string{"ep_1", "ep_2"} {
			if err := tx.CreateEndpoint(testEndpoint(tApp, ep, "")); err != nil {
				return err
			}
		}
		if _, _, err := tx.CreateMessage(NewMessage{Message: Message{ID: msg, AppID: tApp, EventType: "job.done", Channels: []string{"eu"}, Timestamp: 1e9}}); err != nil {
			return err
		}
		for i := range atts {
			atts[i].ID, atts[i].AppID, atts[i].MsgID = attIDs[i], tApp, msg
			tx.RecordOutcome(Outcome{Key: ScheduleKey{DueMs: 1, MsgID: msg, EndpointID: atts[i].EndpointID},
				AttemptNo: uint32(i + 1), Attempt: atts[i]})
		}
		return nil
	})
	return s, msg, atts
}

func TestListAttempts(t *testing.T) {
	s, msg, atts := attemptStore(t)
	success, fail := StatusSuccess, StatusFail
	tests := []struct {
		name     string
		endpoint string // list by endpoint when set, else by message
		filter   AttemptFilter
		want     []int // indexes into atts, newest first
	}{
		{"all by message", "", AttemptFilter{}, []int{5, 4, 3, 2, 1, 0}},
		{"success", "", AttemptFilter{Status: &success}, []int{4, 0}},
		{"fail", "", AttemptFilter{Status: &fail}, []int{5, 3, 2, 1}},
		{"2xx", "", AttemptFilter{StatusClass: 2}, []int{4, 0}},
		{"3xx", "", AttemptFilter{StatusClass: 3}, []int{5}},
		{"5xx", "", AttemptFilter{StatusClass: 5}, []int{1}},
		{"no response", "", AttemptFilter{StatusClass: -1}, []int{2}},
		{"4xx and fail", "", AttemptFilter{StatusClass: 4, Status: &fail}, []int{3}},
		{"4xx and success", "", AttemptFilter{StatusClass: 4, Status: &success}, nil},
		{"endpoint filter", "", AttemptFilter{EndpointID: "ep_2"}, []int{4, 3, 2}},
		{"by endpoint", "ep_1", AttemptFilter{}, []int{5, 1, 0}},
		{"by endpoint, fail", "ep_1", AttemptFilter{Status: &fail}, []int{5, 1}},
		{"by endpoint, no response", "ep_2", AttemptFilter{StatusClass: -1}, []int{2}},
		{"by unknown endpoint", "ep_none", AttemptFilter{}, nil},
		{"message event type", "", AttemptFilter{Message: MessageFilter{EventTypes: []string{"x", "job.done"}}}, []int{5, 4, 3, 2, 1, 0}},
		{"other event type", "", AttemptFilter{Message: MessageFilter{EventTypes: []string{"x"}}}, nil},
		{"by endpoint, message channel", "ep_1", AttemptFilter{Message: MessageFilter{Channel: "eu"}}, []int{5, 1, 0}},
		{"by endpoint, other channel", "ep_1", AttemptFilter{Message: MessageFilter{Channel: "us"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, i := range tc.want {
				want = append(want, atts[i].ID)
			}
			var p Page[Attempt]
			opts := ListOptions{Descending: true}
			view(t, s, func(r *Reader) (err error) {
				if tc.endpoint != "" {
					p, err = r.ListAttemptsByEndpoint(tApp, tc.endpoint, tc.filter, opts)
				} else {
					p, err = r.ListAttemptsByMessage(tApp, msg, tc.filter, opts)
				}
				return err
			})
			if got := summarize(p, attID).IDs; !slices.Equal(got, want) {
				t.Fatalf("ids %v, want %v", got, want)
			}
			for _, at := range p.Items {
				i := slices.IndexFunc(atts, func(a Attempt) bool { return a.ID == at.ID })
				if !reflect.DeepEqual(at, atts[i]) {
					t.Fatalf("attempt = %+v, want %+v", at, atts[i])
				}
			}
		})
	}
}

func TestListEndpointMessagesAndDeliveries(t *testing.T) {
	s := openTestStore(t, "")
	msgs := idsAt(PrefixMessage, secondsAfter(3)...)
	mustApply(t, s, func(tx *Tx) error {
		if err := tx.CreateApp(testApp(tApp, "")); err != nil {
			return err
		}
		for _, ep := range []Endpoint{{ID: "ep_a"}, {ID: "ep_b"}, {ID: "ep_c", FilterTypes: []string{"only"}}} {
			ep.AppID = tApp
			if err := tx.CreateEndpoint(ep); err != nil {
				return err
			}
		}
		for i, id := range msgs {
			if _, _, err := tx.CreateMessage(NewMessage{Message: Message{ID: id, AppID: tApp, EventType: "only", Timestamp: int64(i+1) * 1e9}}); err != nil {
				return err
			}
		}
		// msgs[1] to ep_a succeeded.
		tx.RecordOutcome(Outcome{Key: ScheduleKey{DueMs: 2000, MsgID: msgs[1], EndpointID: "ep_a"}, AttemptNo: 1,
			Attempt: Attempt{ID: "atmpt_x", AppID: tApp, MsgID: msgs[1], EndpointID: "ep_a", Status: StatusSuccess}, Final: StatusSuccess})
		return nil
	})
	success, pending := StatusSuccess, StatusPending
	tests := []struct {
		name   string
		status *Status
		want   []string
	}{
		{"all", nil, []string{msgs[2], msgs[1], msgs[0]}},
		{"success", &success, []string{msgs[1]}},
		{"pending", &pending, []string{msgs[2], msgs[0]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Page[EndpointMessage]
			view(t, s, func(r *Reader) (err error) {
				p, err = r.ListEndpointMessages(tApp, "ep_a", tc.status, MessageFilter{}, ListOptions{Descending: true})
				return err
			})
			if got := summarize(p, emID).IDs; !slices.Equal(got, tc.want) {
				t.Fatalf("ids %v, want %v", got, tc.want)
			}
			for _, em := range p.Items {
				if em.Delivery.MsgID != em.Message.ID || em.Delivery.EndpointID != "ep_a" || em.Message.EventType != "only" {
					t.Fatalf("item = %+v", em)
				}
				if tc.status != nil && em.Delivery.Status != *tc.status {
					t.Fatalf("delivery status %v, want %v", em.Delivery.Status, *tc.status)
				}
			}
		})
	}

	t.Run("deliveries of a message", func(t *testing.T) {
		var pages []pageOf
		opts := ListOptions{Limit: 2}
		for range 3 {
			var p Page[Delivery]
			view(t, s, func(r *Reader) (err error) { p, err = r.MessageDeliveries(tApp, msgs[1], opts); return err })
			pages = append(pages, summarize(p, dlEpID))
			if p.Done {
				break
			}
			opts.Iterator = p.Iterator
		}
		want := []pageOf{
			{IDs: []string{"ep_a", "ep_b"}, Iterator: "ep_b", PrevIterator: "-ep_a"},
			{IDs: []string{"ep_c"}, Iterator: "ep_c", PrevIterator: "-ep_c", Done: true},
		}
		if !reflect.DeepEqual(pages, want) {
			t.Fatalf("pages:\n got %+v\nwant %+v", pages, want)
		}
	})
}

func TestListEndpointsAndEventTypes(t *testing.T) {
	s := openTestStore(t, "")
	mustApply(t, s, func(tx *Tx) error {
		if err := tx.CreateApp(testApp(tApp, "")); err != nil {
			return err
		}
		if err := tx.CreateApp(testApp(tApp2, "")); err != nil {
			return err
		}
		for _, ep := range []string{"ep_3", "ep_1", "ep_2"} {
			if err := tx.CreateEndpoint(testEndpoint(tApp, ep, "")); err != nil {
				return err
			}
		}
		if err := tx.CreateEndpoint(testEndpoint(tApp2, "ep_9", "")); err != nil {
			return err
		}
		for _, name := range []string{"b.x", "a.x", "c.x"} {
			if err := tx.CreateEventType(EventType{Name: name}); err != nil {
				return err
			}
		}
		return tx.DeleteEventType("b.x", false, 5)
	})
	var eps Page[Endpoint]
	var active, all Page[EventType]
	view(t, s, func(r *Reader) (err error) {
		if eps, err = r.ListEndpoints(tApp, ListOptions{}); err != nil {
			return err
		}
		if active, err = r.ListEventTypes(ListOptions{}, false); err != nil {
			return err
		}
		all, err = r.ListEventTypes(ListOptions{}, true)
		return err
	})
	if got := summarize(eps, epID).IDs; !slices.Equal(got, []string{"ep_1", "ep_2", "ep_3"}) {
		t.Errorf("endpoints = %v", got)
	}
	if got := summarize(active, etName).IDs; !slices.Equal(got, []string{"a.x", "c.x"}) {
		t.Errorf("active event types = %v", got)
	}
	if got := summarize(all, etName).IDs; !slices.Equal(got, []string{"a.x", "b.x", "c.x"}) {
		t.Errorf("all event types = %v", got)
	}
}

func TestDueEntries(t *testing.T) {
	s := openTestStore(t, "")
	keys := []ScheduleKey{
		{DueMs: 100, MsgID: "msg_a", EndpointID: "ep_x"},
		{DueMs: 100, MsgID: "msg_b", EndpointID: "ep_x"},
		{DueMs: 200, MsgID: "msg_a", EndpointID: "ep_y"},
		{DueMs: 300, MsgID: "msg_c", EndpointID: "ep_x"},
		{DueMs: 400, MsgID: "msg_d", EndpointID: "ep_x"},
	}
	mustApply(t, s, func(tx *Tx) error {
		for i, k := range keys {
			tx.schedule(k, Due{AppID: tApp, Attempt: uint32(i + 1), Trigger: Trigger(i % 2)})
		}
		// Neighbouring tables must not leak into the scan.
		tx.PutNode(Node{ID: "n"})
		tx.PutIdempotent([]byte("h"), IdempotentResponse{}, 1)
		return nil
	})
	entry := func(i int) ScheduleEntry {
		return ScheduleEntry{Key: keys[i], Due: Due{AppID: tApp, Attempt: uint32(i + 1), Trigger: Trigger(i % 2)}}
	}
	tests := []struct {
		name     string
		from     []byte
		uptoMs   int64
		limit    int
		want     []int
		wantNext int64
	}{
		{"up to now", nil, 250, 10, []int{0, 1, 2}, 300},
		{"inclusive of uptoMs", nil, 200, 10, []int{0, 1, 2}, 300},
		{"limit first", nil, 250, 2, []int{0, 1}, 0},
		{"limit exactly the due ones", nil, 250, 3, []int{0, 1, 2}, 300},
		{"from a key, inclusive", keys[1].Bytes(), 250, 10, []int{1, 2}, 300},
		{"from past the due ones", keys[3].Bytes(), 250, 10, nil, 300},
		{"nothing due yet", nil, 99, 10, nil, 100},
		{"everything", nil, 1000, 10, []int{0, 1, 2, 3, 4}, 0},
		{"from beyond the end", ScheduleKey{DueMs: 401, MsgID: "m", EndpointID: "e"}.Bytes(), 1000, 10, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []ScheduleEntry
			var next int64
			view(t, s, func(r *Reader) (err error) { got, next, err = r.DueEntries(tc.from, tc.uptoMs, tc.limit); return err })
			var want []ScheduleEntry
			for _, i := range tc.want {
				want = append(want, entry(i))
			}
			if !reflect.DeepEqual(got, want) || next != tc.wantNext {
				t.Fatalf("DueEntries = %+v, next %d\nwant %+v, next %d", got, next, want, tc.wantNext)
			}
		})
	}
	view(t, s, func(r *Reader) error {
		if n := r.ScheduleLen(); n != len(keys) {
			t.Errorf("ScheduleLen = %d, want %d", n, len(keys))
		}
		return nil
	})
}

// TestHiddenEventTypesNeverInCursors: a caller that may not see a type
// never finds its name in a page's cursors, not even on a page that shows
// nothing.
func TestHiddenEventTypesNeverInCursors(t *testing.T) {
	s := openTestStore(t, "")
	mustApply(t, s, func(tx *Tx) error {
		for _, et := range []EventType{{Name: "a.visible"}, {Name: "m.secret", FeatureFlags: []string{"beta"}}, {Name: "z.secret", FeatureFlags: []string{"beta"}}} {
			if err := tx.CreateEventType(et); err != nil {
				return err
			}
		}
		return nil
	})
	visible := func(et *EventType) bool { return len(et.FeatureFlags) == 0 }
	opts := ListOptions{Limit: 1}
	for page := 0; page < 4; page++ {
		var p Page[EventType]
		view(t, s, func(r *Reader) (err error) { p, err = r.ListVisibleEventTypes(opts, false, visible); return err })
		for _, c := range []string{p.Iterator, p.PrevIterator} {
			if strings.Contains(c, "secret") {
				t.Fatalf("page %d: cursor %q names a hidden type (%+v)", page, c, p)
			}
		}
		if p.Done {
			return
		}
		opts.Iterator = p.Iterator
	}
	t.Fatal("the list never ended")
}

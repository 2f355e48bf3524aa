package storage

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestListAppDeliveriesPagesAcrossEndpoints pages the app-wide delivery
// list filtered by status through matches spread unevenly over several
// endpoints (one endpoint gets nearly all, one a few, one none of the
// matching status), forwards and back, and checks that every match comes
// exactly once, newest message first, whatever the page size.
func TestListAppDeliveriesPagesAcrossEndpoints(t *testing.T) {
	s := openTestStore(t, "")
	const n = 40
	msgIDs := idsAt(PrefixMessage, secondsAfter(n)...)
	eps := []Endpoint{
		{ID: "ep_1busy", AppID: tApp},                                  // every message
		{ID: "ep_2rare", AppID: tApp, FilterTypes: []string{"rare"}},   // every 7th
		{ID: "ep_3other", AppID: tApp, FilterTypes: []string{"other"}}, // every 5th, always succeeds
	}
	type row struct{ msg, ep string }
	var failed []row // what a status=fail list must return, in list order
	mustApply(t, s, func(tx *Tx) error {
		if err := tx.CreateApp(testApp(tApp, "")); err != nil {
			return err
		}
		for _, ep := range eps {
			if err := tx.CreateEndpoint(ep); err != nil {
				return err
			}
		}
		for i, id := range msgIDs {
			et := "common"
			switch {
			case i%7 == 0:
				et = "rare"
			case i%5 == 0:
				et = "other"
			}
			if _, _, err := tx.CreateMessage(NewMessage{Message: Message{ID: id, AppID: tApp, EventType: et, Payload: []byte("{}"), Timestamp: 1}}); err != nil {
				return err
			}
		}
		return nil
	})
	// Outcomes: ep_1busy fails two messages in three, ep_2rare fails all,
	// ep_3other succeeds.
	view(t, s, func(r *Reader) error {
		entries, _, err := r.DueEntries(nil, 1<<62, 1000)
		if err != nil {
			return err
		}
		mustApply(t, s, func(tx *Tx) error {
			for i, e := range entries {
				st := StatusFail
				if e.Key.EndpointID == "ep_3other" || (e.Key.EndpointID == "ep_1busy" && i%3 == 0) {
					st = StatusSuccess
				}
				tx.RecordOutcome(Outcome{Key: e.Key, AttemptNo: 1, Final: st, Attempt: Attempt{
					ID: fmt.Sprintf("atmpt_%03d", i), AppID: tApp, MsgID: e.Key.MsgID, EndpointID: e.Key.EndpointID, Status: st}})
			}
			return nil
		})
		return nil
	})
	view(t, s, func(r *Reader) error {
		for i := n - 1; i >= 0; i-- {
			for _, ep := range slices.Backward(eps) {
				if dl, err := r.Delivery(tApp, msgIDs[i], ep.ID); err == nil && dl.Status == StatusFail {
					failed = append(failed, row{msgIDs[i], ep.ID})
				}
			}
		}
		return nil
	})
	if len(failed) < 25 {
		t.Fatalf("only %d failed deliveries: the fixture is wrong", len(failed))
	}
	list := func(opts ListOptions, st Status) Page[EndpointMessage] {
		opts.Descending = true
		var p Page[EndpointMessage]
		view(t, s, func(r *Reader) (err error) {
			p, err = r.ListAppDeliveries(tApp, &st, MessageFilter{}, opts)
			return err
		})
		return p
	}
	rows := func(p Page[EndpointMessage]) []row {
		var out []row
		for _, em := range p.Items {
			if em.Message.ID != em.Delivery.MsgID || em.Delivery.Status != StatusFail {
				t.Fatalf("item %+v: message and delivery do not match, or not failed", em)
			}
			out = append(out, row{em.Message.ID, em.Delivery.EndpointID})
		}
		return out
	}
	for _, limit := range []int{1, 4, 7, 50} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			var got []row
			var iters []string // the iterator each page was asked with
			it := ""
			for pages := 0; ; pages++ {
				if pages > len(failed)+1 {
					t.Fatal("paging does not end")
				}
				iters = append(iters, it)
				p := list(ListOptions{Limit: limit, Iterator: it}, StatusFail)
				got = append(got, rows(p)...)
				if p.Done {
					break
				}
				if len(p.Items) != limit {
					t.Fatalf("a page that is not the last has %d items, want %d", len(p.Items), limit)
				}
				it = p.Iterator
			}
			if !slices.Equal(got, failed) {
				t.Fatalf("paged through %d rows:\n got %v\nwant %v", len(got), got, failed)
			}
			// Back from the third page: the second again.
			if len(iters) > 3 {
				third := list(ListOptions{Limit: limit, Iterator: iters[2]}, StatusFail)
				back := list(ListOptions{Limit: limit, Iterator: third.PrevIterator}, StatusFail)
				want := list(ListOptions{Limit: limit, Iterator: iters[1]}, StatusFail)
				if !slices.Equal(rows(back), rows(want)) {
					t.Fatalf("back from the third page:\n got %v\nwant %v", rows(back), rows(want))
				}
			}
		})
	}
	t.Run("succeeded and dates", func(t *testing.T) {
		p := list(ListOptions{Limit: 100}, StatusSuccess)
		for _, em := range p.Items {
			if em.Delivery.Status != StatusSuccess {
				t.Fatalf("status filter let %+v through", em.Delivery)
			}
		}
		// A time window keeps the messages in it, across endpoints.
		from, until := baseTime.Add(10*time.Second), baseTime.Add(20*time.Second)
		w := list(ListOptions{Limit: 100, After: from.Add(-time.Millisecond), Before: until}, StatusFail)
		var want []row
		for _, r := range failed {
			if tm, _ := IDTime(r.msg); !tm.Before(from) && tm.Before(until) {
				want = append(want, r)
			}
		}
		if got := rows(w); !slices.Equal(got, want) || len(want) == 0 {
			t.Fatalf("window:\n got %v\nwant %v", got, want)
		}
	})
}

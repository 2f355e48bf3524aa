package storage

import (
	"testing"
	"time"
)

// TestCreateMessageFor: an example message goes to the one endpoint named,
// even one whose filters would not match it, and to no other.
func TestCreateMessageFor(t *testing.T) {
	s := fanoutStore(t)
	at := time.Unix(1_700_000_000, 0)
	m := Message{ID: NewID(PrefixMessage, at), AppID: tApp, EventType: "other.type", Payload: []byte(`{}`), Timestamp: at.UnixNano()}
	mustApply(t, s, func(tx *Tx) error { return tx.CreateMessageFor(NewMessage{Message: m}, "ep_3type") })
	for _, ep := range []string{"ep_1all", "ep_2disabled", "ep_3type", "ep_4chan", "ep_5both"} {
		dl, err := getDelivery(t, s, tApp, m.ID, ep)
		switch {
		case ep == "ep_3type" && (err != nil || dl.Status != StatusPending || dl.NextAttempt != m.Timestamp):
			t.Fatalf("delivery to %s = %+v, %v; want pending", ep, dl, err)
		case ep != "ep_3type" && err != ErrNotFound:
			t.Fatalf("delivery to %s = %+v, %v; want none", ep, dl, err)
		}
	}
	t.Run("missing endpoint or app", func(t *testing.T) {
		m2 := m
		m2.ID = NewID(PrefixMessage, at)
		expectNoWrites(t, s, ErrNotFound, func(tx *Tx) error { return tx.CreateMessageFor(NewMessage{Message: m2}, "ep_none") })
		m2.AppID = "app_none"
		expectNoWrites(t, s, ErrNotFound, func(tx *Tx) error { return tx.CreateMessageFor(NewMessage{Message: m2}, "ep_1all") })
	})
}

// TestEndpointStats counts deliveries by status within the time range only,
// and stops at the limit.
func TestEndpointStats(t *testing.T) {
	s := fanoutStore(t)
	base := time.Unix(1_700_000_000, 0)
	statuses := []Status{StatusSuccess, StatusSuccess, StatusFail, StatusPending}
	mustApply(t, s, func(tx *Tx) error {
		for i, st := range statuses {
			at := base.Add(time.Duration(i) * time.Hour)
			id := NewID(PrefixMessage, at)
			if err := tx.CreateMessageFor(NewMessage{Message: Message{ID: id, AppID: tApp, EventType: "a", Payload: []byte(`{}`), Timestamp: at.UnixNano()}}, tEpAll); err != nil {
				return err
			}
			dl := Delivery{AppID: tApp, MsgID: id, EndpointID: tEpAll, Status: st}
			tx.set(deliveryKey(tApp, id, tEpAll), encode(dl.Encode))
		}
		return nil
	})
	cases := []struct {
		name         string
		since, until time.Time
		limit        int
		want         [5]int
		truncated    bool
	}{
		{"all", base, base.Add(10 * time.Hour), 100, [5]int{2, 1, 1, 0, 0}, false},
		{"last two hours", base.Add(2 * time.Hour), base.Add(10 * time.Hour), 100, [5]int{0, 1, 1, 0, 0}, false},
		{"first hour", base, base.Add(time.Hour - time.Second), 100, [5]int{1, 0, 0, 0, 0}, false},
		{"limited", base, base.Add(10 * time.Hour), 2, [5]int{0, 1, 1, 0, 0}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var (
				got       [5]int
				truncated bool
			)
			err := s.View(func(r *Reader) error {
				var err error
				got, truncated, err = r.EndpointStats(tApp, tEpAll, tc.since, tc.until, tc.limit)
				return err
			})
			if err != nil || got != tc.want || truncated != tc.truncated {
				t.Fatalf("EndpointStats = %v, %v, %v; want %v, %v", got, truncated, err, tc.want, tc.truncated)
			}
		})
	}
}

package delivery

import (
	"fmt"
	"testing"

	"github.com/rs/zerolog"

	"github.com/herald-webhooks/herald/storage"
)

// offerFixture is a dispatcher with only what offer and release use: a
// store (for the endpoint cache; the endpoint need not exist) and a term
// whose job queue nobody reads.
func offerFixture(t *testing.T, limit int) (*Dispatcher, *term) {
	t.Helper()
	st, err := storage.Open(t.TempDir(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	d := &Dispatcher{
		cfg:      DispatcherConfig{MaxInFlightPerEndpoint: limit},
		store:    st,
		wake:     make(chan struct{}, 1),
		inflight: map[string]struct{}{},
		finished: map[string]uint64{},
		flows:    newFlows(limit, false),
	}
	return d, &term{jobs: make(chan storage.ScheduleEntry, 4*limit)}
}

func entry(due int64, n int) storage.ScheduleEntry {
	return storage.ScheduleEntry{
		Key: storage.ScheduleKey{DueMs: due, MsgID: fmt.Sprintf("msg_%04d", n), EndpointID: "ep_1"},
		Due: storage.Due{AppID: "app_1", Attempt: 1},
	}
}

// TestSkippedKeysGoFirst: once an endpoint skipped keys for being full, a
// slot it frees is not given to a newer key (the sweep's) before the
// refill pass has sent the older ones, even while too few slots are free
// for that pass to run yet.
func TestSkippedKeysGoFirst(t *testing.T) {
	d, tm := offerFixture(t, 16)
	for i := range 16 {
		if r := d.offer(tm, entry(1000, i), 1, false); r != offerDispatched {
			t.Fatalf("key %d: %v, want dispatched", i, r)
		}
	}
	if r := d.offer(tm, entry(1000, 16), 1, false); r != offerEndpointFull {
		t.Fatalf("17th key: %v, want endpoint full", r)
	}
	// One slot frees: fewer than refillBatch(16) = 2, so no refill yet.
	d.release(entry(1000, 0))
	if len(d.flows.refills) != 0 {
		t.Fatalf("refill queued with one slot free: %v", d.flows.refills)
	}
	if r := d.offer(tm, entry(2000, 17), 2, false); r != offerEndpointFull {
		t.Errorf("a newer key took the freed slot (%v) while older keys wait", r)
	}
	// A catch-up with room in its window waits too.
	st := d.flows.endpoints["ep_1"]
	st.ahead, st.window = entry(1500, 0).Key.Bytes(), 16
	if r := d.offer(tm, entry(2000, 18), 2, true); r != offerEndpointFull {
		t.Errorf("a key sent ahead took the freed slot (%v) while older keys wait", r)
	}
	// A second slot frees: the refill pass is queued from the first
	// skipped key.
	d.release(entry(1000, 1))
	if got, want := string(d.flows.refills["ep_1"]), string(entry(1000, 16).Key.Bytes()); got != want {
		t.Errorf("refill from %q, want the first skipped key %q", got, want)
	}
}

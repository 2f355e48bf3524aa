package appliance

import (
	"testing"
	"time"

	"github.com/herald-webhooks/herald/config"
)

func testPacer(rate, batch int, share float64) (*purgePacer, *[]time.Duration) {
	var slept []time.Duration
	a := &Appliance{cfg: config.Default()}
	a.cfg.Storage.PurgeRate, a.cfg.Storage.PurgeBatch, a.cfg.Storage.PurgeBusyShare = rate, batch, share
	p := a.purgePacer()
	p.sleep = func(d time.Duration) bool {
		slept = append(slept, d)
		return true
	}
	return p, &slept
}

// TestPurgePacerEntrySize: an entry removes a tenth of a second's worth of
// the rate, never more than purge_batch, never less than one.
func TestPurgePacerEntrySize(t *testing.T) {
	for _, tt := range []struct{ rate, batch, want int }{
		{1000, 500, 100}, {100000, 500, 500}, {5, 500, 1}, {1000, 20, 20},
	} {
		p, _ := testPacer(tt.rate, tt.batch, 0.1)
		if n, ok := p.next(); !ok || n != tt.want {
			t.Errorf("rate %d batch %d: next() = %d %v, want %d", tt.rate, tt.batch, n, ok, tt.want)
		}
	}
}

// TestPurgePacerRate: past the first entry's burst, entries wait for the
// rate: 10 entries of 100 at 1000/s take about a second of waits.
func TestPurgePacerRate(t *testing.T) {
	p, slept := testPacer(1000, 500, 0.1)
	for range 11 {
		if _, ok := p.next(); !ok {
			t.Fatal("next() stopped")
		}
	}
	var total time.Duration
	for _, d := range *slept {
		total += d
	}
	// Reservations are made back to back without real waits: the 10 after
	// the burst are due 100ms apart.
	if total < 5*time.Second || total > 6*time.Second {
		t.Errorf("waits add up to %s, want the sum of 100ms..1s (5.5s)", total)
	}
}

// TestPurgePacerBackoff: the purge waits only while writers wait for the
// log, and then keeps to its share of the time.
func TestPurgePacerBackoff(t *testing.T) {
	p, _ := testPacer(1000, 500, 0.1)
	took := 20 * time.Millisecond
	if got := p.backoff(took, false); got != 0 {
		t.Errorf("nobody waiting: backoff %s, want none", got)
	}
	if got := p.backoff(took, true); got != 180*time.Millisecond {
		t.Errorf("writers waiting: backoff %s, want 180ms (20ms is a tenth of 200ms)", got)
	}
	if got := p.backoff(5*time.Second, true); got != time.Second {
		t.Errorf("an entry that took 5s: backoff %s, want the 1s cap", got)
	}
	full, _ := testPacer(1000, 500, 1)
	if got := full.backoff(took, true); got != 0 {
		t.Errorf("share 1: backoff %s, want none", got)
	}
}

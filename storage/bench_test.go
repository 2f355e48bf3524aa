package storage

import (
	"fmt"
	"testing"
)

// BenchmarkDueEntriesScan measures the scheduler's read of one page (512)
// of due keys from a schedule index holding 100,000 pending attempts.
func BenchmarkDueEntriesScan(b *testing.B) {
	s := openTestStore(b, "")
	const pending = 100_000
	for start := 0; start < pending; start += 10_000 {
		mustApply(b, s, func(tx *Tx) error {
			for i := start; i < start+10_000; i++ {
				tx.schedule(ScheduleKey{DueMs: int64(1_000_000 + i), MsgID: fmt.Sprintf("msg_%08d", i), EndpointID: "ep_1"},
					Due{AppID: "app_1", Attempt: 1})
			}
			return nil
		})
	}
	b.ReportAllocs()
	for b.Loop() {
		var n int
		view(b, s, func(r *Reader) error {
			entries, _, err := r.DueEntries(nil, 2_000_000, 512)
			n = len(entries)
			return err
		})
		if n != 512 {
			b.Fatalf("%d entries", n)
		}
	}
}

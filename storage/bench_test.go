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

// BenchmarkRecordOutcomes measures one batch (256) of attempt outcomes
// applied in one transaction, as the FSM applies a RecordOutcomes entry:
// every attempt a success, or every one a failure with a retry.
func BenchmarkRecordOutcomes(b *testing.B) {
	for _, failing := range []bool{false, true} {
		name := "success"
		if failing {
			name = "failure"
		}
		b.Run(name, func(b *testing.B) {
			s := openTestStore(b, "")
			const batch = 256
			mustApply(b, s, func(tx *Tx) error {
				if err := tx.CreateApp(App{ID: "app_1"}); err != nil {
					return err
				}
				return tx.CreateEndpoint(Endpoint{ID: "ep_1", AppID: "app_1", URL: "https://example.com/"})
			})
			round := 0
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				keys := make([]ScheduleKey, batch)
				mustApply(b, s, func(tx *Tx) error {
					for i := range keys {
						id := fmt.Sprintf("msg_%04d_%04d", round, i)
						if _, _, err := tx.CreateMessage(NewMessage{Message: Message{ID: id, AppID: "app_1", EventType: "x", Payload: []byte(`{}`), Timestamp: 1e9}}); err != nil {
							return err
						}
						keys[i] = ScheduleKey{DueMs: 1000, MsgID: id, EndpointID: "ep_1"}
					}
					return nil
				})
				b.StartTimer()
				mustApply(b, s, func(tx *Tx) error {
					for i, k := range keys {
						o := Outcome{Key: k, AttemptNo: 1, Attempt: Attempt{ID: fmt.Sprintf("atmpt_%04d_%04d", round, i), AppID: "app_1",
							MsgID: k.MsgID, EndpointID: "ep_1", Timestamp: 2e9, StatusCode: 200, Status: StatusSuccess}, Final: StatusSuccess}
						if failing {
							o.Attempt.StatusCode, o.Attempt.Status, o.NextDueMs = 500, StatusFail, 7000
						}
						tx.RecordOutcome(o)
					}
					return nil
				})
				round++
			}
		})
	}
}

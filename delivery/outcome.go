package delivery

import (
	"time"

	"github.com/herald-webhooks/herald/storage"
)

// attemptFacts is what happened to one attempt that was sent.
type attemptFacts struct {
	status        int   // HTTP status; 0 when no answer came
	err           error // transport error or timeout
	retryAfter    time.Duration
	hasRetryAfter bool
	attempt       uint32    // the attempt's number in its delivery's schedule
	dueMs         int64     // its schedule key's due time
	start         time.Time // when it started
	end           time.Time // when the answer (or the error) came
}

// decision is what an attempt means for its delivery.
type decision struct {
	verdict   Verdict
	status    storage.Status // the attempt's own status
	final     storage.Status // the delivery's status when nextDueMs is 0
	disable   bool           // disable the endpoint (410 Gone)
	attemptNo uint32         // the delivery's attempt count after this one
	nextDueMs int64          // when to try again; 0 = never
	early     bool           // sent ahead of its due time by a catch-up, and failed: costs nothing
	exhausted bool           // a failure with no retry left: the delivery has failed
}

// decide classifies an attempt's outcome: success, a 410 that disables the
// endpoint, a failed early send that keeps its place, a retry at the
// policy's next delay from f.end, or the end of the schedule. It is pure:
// rnd (may be nil) is the only source of jitter.
func decide(p RetryPolicy, f attemptFacts, rnd func() float64) decision {
	d := decision{verdict: Classify(f.status, f.err), attemptNo: f.attempt}
	if d.verdict == DisableEndpoint && p.Keep410 {
		d.verdict = Retry // the policy makes a 410 a plain failure
	}
	switch {
	case d.verdict == Succeeded:
		d.status, d.final = storage.StatusSuccess, storage.StatusSuccess
	case d.verdict == DisableEndpoint:
		d.status, d.final = storage.StatusFail, storage.StatusFail
		d.disable = true
		d.exhausted = true
	case f.dueMs > f.start.UnixMilli():
		// Sent ahead of its time by a catch-up, and failed: recorded, but
		// it costs the delivery nothing. It keeps its attempt number and
		// its place in the schedule, as if the catch-up had not come.
		d.status, d.final = storage.StatusFail, storage.StatusFail
		d.early = true
		d.attemptNo = max(f.attempt, 1) - 1
		d.nextDueMs = f.dueMs
	default:
		d.status, d.final = storage.StatusFail, storage.StatusFail
		if delay, ok := p.NextDelay(int(f.attempt), f.status, f.retryAfter, f.hasRetryAfter, rnd); ok {
			d.nextDueMs = f.end.Add(delay).UnixMilli()
		} else {
			d.verdict = GiveUp
			d.exhausted = true
		}
	}
	return d
}

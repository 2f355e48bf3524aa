package delivery

import (
	"errors"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/storage"
)

func TestDecide(t *testing.T) {
	policy := RetryPolicy{Schedule: []time.Duration{5 * time.Second, time.Minute}, RetryAfterMax: time.Hour}
	start := time.UnixMilli(1_700_000_000_000)
	end := start.Add(200 * time.Millisecond)
	timeout := errors.New("timeout")
	cases := []struct {
		name string
		f    attemptFacts
		want decision
	}{
		{"2xx succeeds", attemptFacts{status: 204, attempt: 1},
			decision{verdict: Succeeded, status: storage.StatusSuccess, final: storage.StatusSuccess, attemptNo: 1}},
		{"410 fails and disables", attemptFacts{status: 410, attempt: 1},
			decision{verdict: DisableEndpoint, status: storage.StatusFail, final: storage.StatusFail, disable: true, exhausted: true, attemptNo: 1}},
		{"5xx retries after the schedule's delay from the end", attemptFacts{status: 500, attempt: 1},
			decision{verdict: Retry, status: storage.StatusFail, final: storage.StatusFail, attemptNo: 1, nextDueMs: end.Add(5 * time.Second).UnixMilli()}},
		{"no answer retries", attemptFacts{err: timeout, attempt: 2},
			decision{verdict: Retry, status: storage.StatusFail, final: storage.StatusFail, attemptNo: 2, nextDueMs: end.Add(time.Minute).UnixMilli()}},
		{"3xx is a failure", attemptFacts{status: 302, attempt: 1},
			decision{verdict: Retry, status: storage.StatusFail, final: storage.StatusFail, attemptNo: 1, nextDueMs: end.Add(5 * time.Second).UnixMilli()}},
		{"503 with Retry-After stretches the delay", attemptFacts{status: 503, attempt: 1, retryAfter: time.Minute, hasRetryAfter: true},
			decision{verdict: Retry, status: storage.StatusFail, final: storage.StatusFail, attemptNo: 1, nextDueMs: end.Add(time.Minute).UnixMilli()}},
		{"400 with Retry-After does not", attemptFacts{status: 400, attempt: 1, retryAfter: time.Minute, hasRetryAfter: true},
			decision{verdict: Retry, status: storage.StatusFail, final: storage.StatusFail, attemptNo: 1, nextDueMs: end.Add(5 * time.Second).UnixMilli()}},
		{"the last attempt fails: given up", attemptFacts{status: 500, attempt: 3},
			decision{verdict: GiveUp, status: storage.StatusFail, final: storage.StatusFail, attemptNo: 3, exhausted: true}},
		{"an early send that fails keeps its place", attemptFacts{status: 500, attempt: 3, dueMs: start.Add(time.Hour).UnixMilli()},
			decision{verdict: Retry, status: storage.StatusFail, final: storage.StatusFail, attemptNo: 2, early: true, nextDueMs: start.Add(time.Hour).UnixMilli()}},
		{"an early send that succeeds", attemptFacts{status: 200, attempt: 3, dueMs: start.Add(time.Hour).UnixMilli()},
			decision{verdict: Succeeded, status: storage.StatusSuccess, final: storage.StatusSuccess, attemptNo: 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.f.start, c.f.end = start, end
			if c.f.dueMs == 0 {
				c.f.dueMs = start.UnixMilli()
			}
			if got := decide(policy, c.f, nil); got != c.want {
				t.Errorf("decide = %+v\nwant     %+v", got, c.want)
			}
		})
	}
}

// TestDecideJitter: jitter comes only from rnd.
func TestDecideJitter(t *testing.T) {
	p := RetryPolicy{Schedule: []time.Duration{10 * time.Second}, Jitter: 0.2}
	start := time.UnixMilli(0)
	f := attemptFacts{status: 500, attempt: 1, start: start, end: start}
	for rnd, want := range map[float64]int64{0: 8000, 0.5: 10000} {
		if got := decide(p, f, func() float64 { return rnd }).nextDueMs; got != want {
			t.Errorf("rnd %v: next due %d ms, want %d", rnd, got, want)
		}
	}
}

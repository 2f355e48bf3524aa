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

// TestDecideWithPolicy: a delivery's stamped policy replaces the server's
// schedule, and can make a 410 and Retry-After plain failures.
func TestDecideWithPolicy(t *testing.T) {
	server := RetryPolicy{Schedule: []time.Duration{5 * time.Second}, RetryAfterMax: time.Hour}
	start := time.UnixMilli(0)
	f := func(status, attempt int) attemptFacts {
		return attemptFacts{status: status, attempt: uint32(attempt), start: start, end: start,
			retryAfter: time.Minute, hasRetryAfter: true}
	}
	contractC := server.With(&storage.Policy{RetryScheduleMs: []int64{30_000, 120_000, 600_000}, On410: storage.No, RetryAfter: storage.No})
	cases := []struct {
		name      string
		p         RetryPolicy
		f         attemptFacts
		next      int64
		exhausted bool
		disable   bool
	}{
		{"server: 410 disables", server, f(410, 1), 0, true, true},
		{"policy: 410 is a plain failure", contractC, f(410, 1), 30_000, false, false},
		{"policy: Retry-After ignored", contractC, f(503, 2), 120_000, false, false},
		{"server: Retry-After honoured", server, f(503, 1), 60_000, false, false},
		{"policy: after the 4th attempt, abandoned", contractC, f(500, 4), 0, true, false},
		{"policy: the 3rd retry is 10 minutes out", contractC, f(500, 3), 600_000, false, false},
		{"no retries: one attempt", server.With(&storage.Policy{NoRetries: true}), f(500, 1), 0, true, false},
		{"unset fields keep the server's", server.With(&storage.Policy{AttemptTimeoutMs: 5000}), f(503, 1), 60_000, false, false},
	}
	for _, c := range cases {
		d := decide(c.p, c.f, nil)
		if d.nextDueMs != c.next || d.exhausted != c.exhausted || d.disable != c.disable {
			t.Errorf("%s: next %d exhausted %v disable %v; want %d %v %v", c.name, d.nextDueMs, d.exhausted, d.disable, c.next, c.exhausted, c.disable)
		}
	}
}

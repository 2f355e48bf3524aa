package delivery

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/storage"
)

// flowEvent is one thing that happens to an endpoint's flow state. Each
// kind renders what it caused as a short string the tables compare.
type flowEvent struct {
	kind   string // offer, ahead (offer by a catch-up), release, ok, fail, wake, take, end
	key    string
	status int           // fail: HTTP status (0 = no answer)
	at     time.Duration // clock for offers and results, from t0
	sent   time.Duration // ok/fail: when the attempt started, from t0
	try    uint32        // ok/fail: attempt number (0 = 2)
	manual bool          // ok/fail: a manual resend, not a scheduled retry
	rate   uint16        // offer: the endpoint's throttle rate
	gone   bool          // offer: the endpoint's read says it is gone
	want   string        // what the event caused
	state  string        // the state afterwards, when set
}

var t0 = time.Unix(1_700_000_000, 0)

// run applies an event to f for endpoint "ep" and renders what it caused.
func (e flowEvent) run(f *flows) string {
	const ep = "ep"
	now := t0.Add(e.at)
	switch e.kind {
	case "offer", "ahead":
		th := throttleRead{rate: e.rate}
		if e.gone {
			th.err = storage.ErrNotFound
		}
		a := f.offer(ep, e.key, e.kind == "ahead", th, now)
		switch {
		case a.admit:
			f.started(ep)
			return "admit"
		case a.wake != nil:
			return "wait " + a.wakeIn.String()
		}
		return "full"
	case "release":
		f.release(ep)
		return ""
	case "ok", "fail":
		try := e.try
		if try == 0 {
			try = 2
		}
		trigger := storage.TriggerScheduled
		if e.manual {
			trigger = storage.TriggerManual
		}
		c := f.result(ep, attemptResult{
			succeeded: e.kind == "ok", status: e.status,
			startedNs: t0.Add(e.sent).UnixNano(), attempt: try, trigger: trigger,
		}, now)
		var out []string
		if c.backoffStarted {
			out = append(out, "backoff on")
		}
		if c.backoffEnded {
			out = append(out, "backoff off")
		}
		if c.catchUpStarted {
			out = append(out, "catch-up on")
		}
		if c.catchUpEnded != "" {
			out = append(out, "catch-up off")
		}
		return strings.Join(out, ", ")
	case "wake":
		if st := f.endpoints[ep]; st != nil {
			f.woken(ep, st)
		}
		return ""
	case "take":
		r, c := f.takePasses()
		var out []string
		if k, ok := r[ep]; ok {
			out = append(out, "refill "+string(k))
		}
		if _, ok := c[ep]; ok {
			out = append(out, "catch-up pass")
		}
		return strings.Join(out, ", ")
	case "end":
		if st := f.catchingUp(ep); st != nil && f.endCatchUp(ep, st) {
			return "ended"
		}
		return ""
	}
	panic("unknown event " + e.kind)
}

// flowSummary renders the endpoint's state: in flight / limit, skipped key,
// catch-up window; "-" when no state is kept.
func flowSummary(f *flows) string {
	st := f.endpoints["ep"]
	if st == nil {
		return "-"
	}
	s := fmt.Sprintf("%d/%d", st.inflight, f.limit(st))
	if st.resume != nil {
		s += " skipped " + string(st.resume)
	}
	if st.ahead != nil {
		s += fmt.Sprintf(" window %d", st.window)
	}
	return s
}

func TestFlowSequences(t *testing.T) {
	cases := []struct {
		name    string
		limit   int
		catchUp bool
		events  []flowEvent
	}{
		{"limit 16: a refill waits for two free slots", 16, false, []flowEvent{
			{kind: "offer", key: "k01", want: "admit"}, {kind: "offer", key: "k02", want: "admit"},
			{kind: "offer", key: "k03", want: "admit"}, {kind: "offer", key: "k04", want: "admit"},
			{kind: "offer", key: "k05", want: "admit"}, {kind: "offer", key: "k06", want: "admit"},
			{kind: "offer", key: "k07", want: "admit"}, {kind: "offer", key: "k08", want: "admit"},
			{kind: "offer", key: "k09", want: "admit"}, {kind: "offer", key: "k10", want: "admit"},
			{kind: "offer", key: "k11", want: "admit"}, {kind: "offer", key: "k12", want: "admit"},
			{kind: "offer", key: "k13", want: "admit"}, {kind: "offer", key: "k14", want: "admit"},
			{kind: "offer", key: "k15", want: "admit"}, {kind: "offer", key: "k16", want: "admit"},
			{kind: "offer", key: "k17", want: "full", state: "16/16 skipped k17"},
			{kind: "release", state: "15/16 skipped k17"},
			{kind: "take", want: ""},
			{kind: "offer", key: "k18", want: "full", state: "15/16 skipped k17"},
			{kind: "release", state: "14/16"},
			{kind: "take", want: "refill k17"},
		}},
		{"limit 2: the third key is skipped and refilled first", 2, false, []flowEvent{
			{kind: "offer", key: "k1", want: "admit"},
			{kind: "offer", key: "k2", want: "admit", state: "2/2"},
			{kind: "offer", key: "k3", want: "full", state: "2/2 skipped k3"},
			{kind: "offer", key: "k4", want: "full", state: "2/2 skipped k3"},
			{kind: "release", state: "1/2"},
			{kind: "take", want: "refill k3"},
			{kind: "offer", key: "k3", want: "admit", state: "2/2"},
			{kind: "release"}, {kind: "release", state: "-"},
		}},
		{"an earlier skipped key replaces a later one", 1, false, []flowEvent{
			{kind: "offer", key: "k5", want: "admit"},
			{kind: "offer", key: "k7", want: "full", state: "1/1 skipped k7"},
			{kind: "offer", key: "k6", want: "full", state: "1/1 skipped k6"},
		}},
		{"backoff halves on failure, doubles on success", 8, false, []flowEvent{
			{kind: "offer", key: "k1", want: "admit"},
			{kind: "fail", status: 503, want: "backoff on", state: "1/4"},
			{kind: "fail", status: 0, want: "", state: "1/2"},
			{kind: "fail", status: 429, want: "", state: "1/1"},
			{kind: "fail", status: 500, want: "", state: "1/1"},
			{kind: "offer", key: "k2", want: "full", state: "1/1 skipped k2"},
			{kind: "ok", want: "", state: "1/2 skipped k2"},
			{kind: "ok", want: "", state: "1/4 skipped k2"},
			{kind: "ok", want: "backoff off", state: "1/8 skipped k2"},
		}},
		{"a refusal (4xx) is not the endpoint failing", 8, false, []flowEvent{
			{kind: "offer", key: "k1", want: "admit"},
			{kind: "fail", status: 404, want: "", state: "1/8"},
			{kind: "fail", status: 301, want: "", state: "1/8"},
			{kind: "release", state: "-"},
		}},
		{"a backing-off endpoint is kept while idle", 8, false, []flowEvent{
			{kind: "offer", key: "k1", want: "admit"},
			{kind: "fail", status: 502, want: "backoff on"},
			{kind: "release", state: "0/4"},
		}},
		{"a scheduled retry that succeeds starts a catch-up", 8, true, []flowEvent{
			{kind: "offer", key: "k1", want: "admit"},
			{kind: "ok", at: time.Second, want: "catch-up on", state: "1/8 window 1"},
			{kind: "release", state: "0/8 window 1"},
			{kind: "take", want: "catch-up pass"},
			{kind: "ahead", key: "k9", want: "admit", state: "1/8 window 1"},
			{kind: "ahead", key: "k10", want: "full", state: "1/8 window 1"},
			{kind: "ok", at: 2 * time.Second, sent: time.Second, want: "", state: "1/8 window 2"},
			{kind: "ok", at: 2 * time.Second, sent: time.Second, want: "", state: "1/8 window 4"},
			// An attempt sent before the catch-up began failed against
			// the receiver as it was: the catch-up goes on.
			{kind: "fail", at: 3 * time.Second, sent: 0, status: 503, want: "backoff on", state: "1/4 window 4"},
			{kind: "fail", at: 3 * time.Second, sent: 2 * time.Second, status: 503, want: "catch-up off", state: "1/2"},
			{kind: "release", state: "0/2"},
		}},
		{"no catch-up after a first attempt, a manual resend, or when off", 8, true, []flowEvent{
			{kind: "offer", key: "k1", want: "admit"},
			{kind: "ok", try: 1, want: ""},
			{kind: "ok", manual: true, want: ""},
			{kind: "release", state: "-"},
		}},
		{"catch-up is off by configuration", 8, false, []flowEvent{
			{kind: "offer", key: "k1", want: "admit"},
			{kind: "ok", want: "", state: "1/8"},
		}},
		{"one catch-up per endpoint a minute", 8, true, []flowEvent{
			{kind: "offer", key: "k1", want: "admit"},
			{kind: "ok", at: time.Second, want: "catch-up on"},
			{kind: "end", want: "ended", state: "1/8"},
			{kind: "ok", at: 30 * time.Second, want: ""},
			{kind: "ok", at: 62 * time.Second, want: "catch-up on"},
		}},
		{"the catch-up window stops at the limit", 2, true, []flowEvent{
			{kind: "offer", key: "k1", want: "admit"},
			{kind: "offer", key: "k2", want: "admit"},
			{kind: "offer", key: "k3", want: "full"},
			{kind: "ok", at: time.Second, want: "catch-up on"},
			{kind: "ok", at: time.Second, want: ""},
			{kind: "ok", at: time.Second, want: "", state: "2/2 skipped k3 window 2"},
			{kind: "ahead", key: "k9", want: "full", state: "2/2 skipped k3 window 2"},
		}},
		{"throttle: a second's worth in a burst, then a wait", 8, false, []flowEvent{
			{kind: "offer", key: "k1", rate: 2, want: "admit"},
			{kind: "offer", key: "k2", rate: 2, want: "admit"},
			{kind: "offer", key: "k3", rate: 2, want: "wait 500ms", state: "2/8 skipped k3"},
			// One timer at a time.
			{kind: "offer", key: "k4", rate: 2, want: "full", state: "2/8 skipped k3"},
			// Slots free: the skipped key gets its refill pass, and the
			// limiter, not the slots, decides when it goes.
			{kind: "release", state: "1/8"}, {kind: "release", state: "0/8"},
			{kind: "take", want: "refill k3"},
			{kind: "wake", state: "0/8"},
			{kind: "offer", key: "k3", rate: 2, at: 500 * time.Millisecond, want: "admit"},
		}},
		{"a throttled endpoint's state outlives idleness until its rate is gone", 8, false, []flowEvent{
			{kind: "offer", key: "k1", rate: 5, want: "admit"},
			{kind: "release", state: "0/8"},
			{kind: "offer", key: "k2", gone: true, want: "admit"},
			{kind: "release", state: "-"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFlows(c.limit, c.catchUp)
			for i, e := range c.events {
				if got := e.run(f); got != e.want {
					t.Fatalf("event %d (%s %s): caused %q, want %q", i, e.kind, e.key, got, e.want)
				}
				if e.state != "" {
					if got := flowSummary(f); got != e.state {
						t.Fatalf("event %d (%s %s): state %q, want %q", i, e.kind, e.key, got, e.state)
					}
				}
			}
		})
	}
}

// TestFlowCatchUpsBounded: at most maxCatchingUp endpoints catch up at once.
func TestFlowCatchUpsBounded(t *testing.T) {
	f := newFlows(8, true)
	started := 0
	for i := range maxCatchingUp + 3 {
		ep := fmt.Sprintf("ep%d", i)
		if !f.offer(ep, "k", false, throttleRead{}, t0).admit {
			t.Fatalf("%s: not admitted", ep)
		}
		f.started(ep)
		c := f.result(ep, attemptResult{succeeded: true, attempt: 3, trigger: storage.TriggerScheduled}, t0)
		if c.catchUpStarted {
			started++
		}
	}
	if started != maxCatchingUp || f.catching != maxCatchingUp {
		t.Fatalf("%d catch-ups started, %d counted; want %d", started, f.catching, maxCatchingUp)
	}
	f.endCatchUp("ep0", f.catchingUp("ep0"))
	c := f.result("ep9", attemptResult{succeeded: true, attempt: 3, trigger: storage.TriggerScheduled}, t0)
	if !c.catchUpStarted {
		t.Fatal("a catch-up that ended did not free its place")
	}
}

// TestFlowPrune: idle states kept for their backoff are forgotten once
// there are many; throttled ones are kept.
func TestFlowPrune(t *testing.T) {
	f := newFlows(4, false)
	for i := range maxEndpointStates - 1 {
		ep := fmt.Sprintf("ep%05d", i)
		f.offer(ep, "k", false, throttleRead{}, t0)
		f.started(ep)
		f.result(ep, attemptResult{status: 503}, t0) // backoff keeps it
		f.release(ep)
	}
	f.offer("throttled", "k", false, throttleRead{rate: 1}, t0)
	if len(f.endpoints) != maxEndpointStates {
		t.Fatalf("%d states before the prune", len(f.endpoints))
	}
	f.offer("new", "k", false, throttleRead{err: errors.New("read failed")}, t0)
	if _, ok := f.endpoints["throttled"]; !ok || len(f.endpoints) != 2 {
		t.Fatalf("after the prune: %d states, throttled kept: %v", len(f.endpoints), ok)
	}
}

// TestFlowManyOneOffOriginsBounded: one-off destinations get a flow state
// per application and origin (storage.DestinationID), and thousands of
// distinct ones a minute, failing or recovering, leave the flow state
// bounded: idle states are forgotten or pruned, catch-up records expire.
func TestFlowManyOneOffOriginsBounded(t *testing.T) {
	f := newFlows(8, true)
	now := t0
	for i := range 50_000 {
		dst := storage.DestinationID("app_1", fmt.Sprintf("https://h%d.example.com/job", i))
		if !f.offer(dst, "k", false, throttleRead{}, now).admit {
			t.Fatalf("origin %d: not admitted", i)
		}
		f.started(dst)
		r := attemptResult{status: 503, attempt: 2, trigger: storage.TriggerScheduled}
		if i%3 == 0 {
			r = attemptResult{succeeded: true, attempt: 2, trigger: storage.TriggerScheduled}
		}
		f.result(dst, r, now)
		f.release(dst)
		if st := f.catchingUp(dst); st != nil {
			f.endCatchUp(dst, st)
		}
		now = now.Add(10 * time.Millisecond)
		if len(f.endpoints) > 2*maxEndpointStates || len(f.caughtUp) > maxCaughtUp+maxCatchingUp+int(catchUpEvery/(10*time.Millisecond)) {
			t.Fatalf("after %d origins: %d flow states, %d catch-up records", i+1, len(f.endpoints), len(f.caughtUp))
		}
	}
}

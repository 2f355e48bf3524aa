package delivery

import (
	"bytes"
	"errors"
	"time"

	"golang.org/x/time/rate"

	"github.com/herald-webhooks/herald/storage"
)

// flows is the dispatcher's per-endpoint flow control: how many attempts
// each endpoint may have in flight (its limit, narrowed by backoff while it
// fails), where its keys skipped while it was full start again (refills),
// its catch-up after a retry succeeded, and its throttle. It has no side
// effects: it reads no clock (callers pass now), starts no timer, logs
// nothing and is not safe for concurrent use; it says what happened
// (flowChange) and the dispatcher acts on it, under its own lock. Tests
// drive it with tables of event sequences (flow_test.go).
type flows struct {
	maxInFlight int  // MaxInFlightPerEndpoint
	catchUpOn   bool // DispatcherConfig.CatchUp

	endpoints map[string]*flowState // per endpoint: attempts in flight, first skipped key
	refills   map[string][]byte     // endpoints that drained: where their skipped keys start
	catchUps  map[string][]byte     // endpoints catching up with a free slot: where their scan goes on
	caughtUp  map[string]time.Time  // when each endpoint's last catch-up started (kept catchUpEvery)
	catching  int                   // endpoints catching up now (at most maxCatchingUp)
	pruneAt   int                   // size of endpoints at which idle states are pruned
}

// newFlows returns the flow state of a new leadership term.
func newFlows(maxInFlight int, catchUp bool) *flows {
	return &flows{
		maxInFlight: maxInFlight,
		catchUpOn:   catchUp,
		endpoints:   make(map[string]*flowState),
		caughtUp:    make(map[string]time.Time),
		pruneAt:     maxEndpointStates,
	}
}

// flowState is one endpoint's flow state.
type flowState struct {
	inflight int
	resume   []byte // first key skipped while full or throttled; nil = none
	// limiter enforces the endpoint's throttleRate (nil = none); while
	// it is set the state is kept, so an idle moment does not refill the
	// bucket early. timer is true while a wake-up for it is pending.
	limiter *rate.Limiter
	timer   bool
	// ahead is where the endpoint's catch-up scan goes on (nil = not
	// catching up). window bounds the attempts in flight to the endpoint
	// while the catch-up sends more: it starts at one and doubles with
	// each success, so a receiver that is not really back costs one early
	// attempt, not a full in-flight limit of them.
	ahead  []byte
	window int
	// aheadSince is when the catch-up started (Unix ns): attempts started
	// before then were in flight as the receiver came back, and their
	// failures do not stop it.
	aheadSince int64
	// backoff bounds the attempts in flight to an endpoint that fails
	// (0 = not failing: maxInFlight applies). Each failed attempt halves
	// it, each success doubles it: an endpoint that is down gets one
	// attempt at a time instead of its full limit of retries, so its due
	// retries do not take the node's capacity from the work that can
	// succeed, and a receiver coming back is not hit by a wall of them.
	backoff int
}

// maxEndpointStates is the size from which idle endpoint states are pruned.
const maxEndpointStates = 4096

// catchUpEvery is the least time between two catch-ups of one endpoint, so
// an endpoint that keeps failing and recovering is not rescanned for each
// success.
const catchUpEvery = time.Minute

// maxCaughtUp is the size at which the record of recent catch-ups is
// pruned of the ones older than catchUpEvery.
const maxCaughtUp = 1024

// maxCatchingUp bounds the endpoints catching up at once: each catch-up
// walks the schedule ahead of the present, so many endpoints recovering
// together (say, after the node's own network came back) would otherwise
// each walk it. The others follow their retry schedule.
const maxCatchingUp = 8

// refillBatch is how many of an endpoint's limit slots must be free before
// a refill (or catch-up) pass runs for it: each pass is a read of the
// schedule, and with one pass per freed slot the reads, not the receiver,
// bounded a drain to one busy endpoint. An eighth of the limit keeps the
// endpoint near its limit at an eighth of the reads.
func refillBatch(limit int) int { return max(1, limit/8) }

// limit is how many attempts the endpoint may have in flight now.
func (f *flows) limit(st *flowState) int {
	if st.backoff > 0 {
		return st.backoff
	}
	return f.maxInFlight
}

// skipped remembers k if it is the earliest key skipped so far.
func (s *flowState) skipped(k []byte) {
	if s.resume == nil || bytes.Compare(k, s.resume) < 0 {
		s.resume = k
	}
}

// idle reports a state with nothing in flight or waiting; it is kept only
// for its limiter or backoff.
func (s *flowState) idle() bool {
	return s.inflight == 0 && s.resume == nil && s.ahead == nil
}

// forgettable reports a state that holds nothing worth keeping.
func (s *flowState) forgettable() bool {
	return s.idle() && s.limiter == nil && s.backoff == 0
}

// state returns the endpoint's state, making one if needed.
func (f *flows) state(id string) *flowState {
	st := f.endpoints[id]
	if st == nil {
		if len(f.endpoints) >= f.pruneAt {
			// Idle endpoints kept only for their backoff are forgotten
			// (they start again from the full limit); the next prune
			// waits until the map has doubled, so states that cannot be
			// pruned (throttled endpoints) do not make each one a scan.
			for k, s := range f.endpoints {
				if s.idle() && s.limiter == nil {
					delete(f.endpoints, k)
				}
			}
			f.pruneAt = max(maxEndpointStates, 2*len(f.endpoints))
		}
		st = &flowState{}
		f.endpoints[id] = st
	}
	return st
}

// throttleRead is what the dispatcher read of an endpoint for its throttle.
type throttleRead struct {
	rate uint16 // deliveries per second; 0 = none
	err  error  // the read failed (storage.ErrNotFound: the endpoint is gone)
}

// admission is offer's answer. When admit is false and wake is set, the
// endpoint is throttled: the caller calls woken(endpoint, wake) after
// wakeIn. When admit is true the caller either starts the attempt
// (started) or, if it cannot, gives the token back (res.cancel).
type admission struct {
	admit  bool
	res    *reservation
	wake   *flowState
	wakeIn time.Duration
}

// offer decides whether key k of endpoint may start now. ahead marks a key
// offered before its due time by a catch-up: it is not remembered as
// skipped, the catch-up keeps its own place.
func (f *flows) offer(endpoint, k string, ahead bool, th throttleRead, now time.Time) admission {
	st := f.state(endpoint)
	if ahead && (st.ahead == nil || st.inflight >= st.window) {
		// The catch-up ended, or waits for its window to widen.
		return admission{}
	}
	if st.resume != nil && (ahead || k > string(st.resume)) {
		// The endpoint's keys skipped earlier go first, by their refill
		// pass: a newer key (or one sent ahead) taking a freed slot
		// could otherwise hold them back for as long as new keys come.
		return admission{}
	}
	if st.inflight >= f.limit(st) {
		if !ahead {
			st.skipped([]byte(k))
		}
		return admission{}
	}
	res := st.throttle(th, now)
	if res != nil && res.delay > 0 {
		if !ahead {
			st.skipped([]byte(k))
		}
		if st.timer {
			return admission{}
		}
		st.timer = true
		return admission{wake: st, wakeIn: res.delay}
	}
	return admission{admit: true, res: res}
}

// started counts an admitted attempt as in flight.
func (f *flows) started(endpoint string) { f.state(endpoint).inflight++ }

// reservation is a token taken from an endpoint's limiter.
type reservation struct {
	r     *rate.Reservation
	at    time.Time
	delay time.Duration
}

// cancel gives the token back (nil-safe).
func (r *reservation) cancel() {
	if r != nil {
		r.r.CancelAt(r.at)
	}
}

// throttle applies the endpoint's throttleRate (deliveries per second, a
// second's worth in a burst; 0 = none): it takes a token, or says how long
// until one is free (and takes none).
func (s *flowState) throttle(th throttleRead, now time.Time) *reservation {
	if th.err != nil {
		// A gone endpoint is closed by the attempt itself; after a read
		// error the limiter is kept, so its bucket does not refill early.
		if errors.Is(th.err, storage.ErrNotFound) {
			s.limiter = nil
		}
		return nil
	}
	if th.rate == 0 {
		s.limiter = nil
		return nil
	}
	if lim := rate.Limit(th.rate); s.limiter == nil || s.limiter.Limit() != lim {
		s.limiter = rate.NewLimiter(lim, int(th.rate))
	}
	r := s.limiter.ReserveN(now, 1)
	res := &reservation{r: r, at: now, delay: r.DelayFrom(now)}
	if res.delay > 0 {
		res.cancel()
	}
	return res
}

// woken is the throttle timer that offer asked for firing: the endpoint's
// skipped keys (and its catch-up) get a pass again.
func (f *flows) woken(endpoint string, st *flowState) {
	st.timer = false
	if st.resume != nil {
		f.addRefill(endpoint, st.resume)
		st.resume = nil
	}
	if st.ahead != nil {
		f.addCatchUp(endpoint, st.ahead)
	}
}

func (f *flows) addRefill(endpoint string, k []byte) {
	if f.refills == nil {
		f.refills = make(map[string][]byte)
	}
	if cur, ok := f.refills[endpoint]; !ok || string(k) < string(cur) {
		f.refills[endpoint] = k
	}
}

func (f *flows) addCatchUp(endpoint string, k []byte) {
	if f.catchUps == nil {
		f.catchUps = make(map[string][]byte)
	}
	f.catchUps[endpoint] = k
}

// requeueCatchUp queues a catch-up pass unless one is queued already.
func (f *flows) requeueCatchUp(endpoint string, k []byte) {
	if _, ok := f.catchUps[endpoint]; !ok {
		f.addCatchUp(endpoint, k)
	}
}

// takePasses returns the refill and catch-up passes queued, and forgets them.
func (f *flows) takePasses() (refills, catchUps map[string][]byte) {
	refills, catchUps = f.refills, f.catchUps
	f.refills, f.catchUps = nil, nil
	return refills, catchUps
}

// release frees the endpoint's slot once the request is over (answered,
// failed or not made). An endpoint with skipped keys gets a refill pass
// once refillBatch of its slots are free (a catch-up likewise, within its
// window).
func (f *flows) release(endpoint string) {
	st := f.endpoints[endpoint]
	if st == nil {
		return
	}
	st.inflight--
	limit := f.limit(st)
	if st.resume != nil && limit-st.inflight >= refillBatch(limit) {
		f.addRefill(endpoint, st.resume)
		st.resume = nil
	}
	if w := min(st.window, limit); st.ahead != nil && w-st.inflight >= refillBatch(w) {
		f.addCatchUp(endpoint, st.ahead)
	}
	if st.forgettable() {
		delete(f.endpoints, endpoint)
	}
}

// attemptResult is what flow control learns from one attempt that was sent.
type attemptResult struct {
	succeeded bool
	status    int    // 0: no answer
	startedNs int64  // when the attempt started (Unix ns)
	attempt   uint32 // its number in the delivery's schedule
	trigger   storage.Trigger
}

// flowChange says what an event changed that the dispatcher should tell.
type flowChange struct {
	backoffStarted bool   // the endpoint began failing: fewer attempts in flight
	backoffEnded   bool   // it answers again: back to its full limit
	catchUpStarted bool   // a retry succeeded: its waiting retries go now
	catchUpEnded   string // why its catch-up ended; "" = it did not
}

// failing reports an outcome that says the endpoint itself is failing (no
// answer, overloaded, broken), not refusing one message.
func failing(status int) bool { return status == 0 || status == 429 || status >= 500 }

// result adjusts an endpoint's backoff after an attempt to it, and starts
// or stops its catch-up: a scheduled retry that succeeded means the
// endpoint is back, and its deliveries waiting for their next retry are
// sent now instead of over the hours of the retry schedule; a failure of
// any attempt started since then stops that at once, so a receiver that
// is still failing keeps the schedule's back-off. Called before release.
func (f *flows) result(endpoint string, r attemptResult, now time.Time) (c flowChange) {
	st := f.endpoints[endpoint]
	if st == nil {
		return c
	}
	if !r.succeeded {
		if failing(r.status) {
			c.backoffStarted = st.backoff == 0
			st.backoff = max(1, f.limit(st)/2)
		}
		if st.ahead == nil {
			return c
		}
		if r.startedNs < st.aheadSince {
			// Sent before the success that started the catch-up: it
			// failed against the receiver as it was, not as it is.
			return c
		}
		if f.endCatchUp(endpoint, st) {
			c.catchUpEnded = "an attempt failed; the retry schedule applies again"
		}
		return c
	}
	if st.backoff > 0 {
		if st.backoff *= 2; st.backoff >= f.maxInFlight {
			st.backoff = 0
			c.backoffEnded = true
		}
	}
	if !f.catchUpOn {
		return c
	}
	if st.ahead != nil {
		st.window = min(2*st.window, f.maxInFlight)
		return c
	}
	if r.attempt < 2 || r.trigger != storage.TriggerScheduled || f.catching >= maxCatchingUp ||
		now.Sub(f.caughtUp[endpoint]) < catchUpEvery {
		return c
	}
	if len(f.caughtUp) >= maxCaughtUp {
		for id, at := range f.caughtUp {
			if now.Sub(at) >= catchUpEvery {
				delete(f.caughtUp, id)
			}
		}
	}
	f.caughtUp[endpoint] = now
	f.catching++
	// Keys due by now are the sweep's; the catch-up starts after them.
	st.ahead = storage.ScheduleKey{DueMs: now.UnixMilli() + 1}.Bytes()
	st.window = 1
	st.aheadSince = now.UnixNano()
	c.catchUpStarted = true
	// release, which follows, queues the scan.
	return c
}

// catchingUp returns the endpoint's state if it is catching up, else nil.
func (f *flows) catchingUp(endpoint string) *flowState {
	if st := f.endpoints[endpoint]; st != nil && st.ahead != nil {
		return st
	}
	return nil
}

// catchUpStopped records where a catch-up pass found the endpoint (or the
// job queue, queueFull) full; a full queue queues the pass again from k.
func (f *flows) catchUpStopped(endpoint string, st *flowState, k []byte, queueFull bool) {
	if st.ahead == nil {
		return
	}
	st.ahead = k
	if queueFull {
		f.addCatchUp(endpoint, k)
	}
}

// catchUpPaused records where a catch-up pass that read its share of
// pages goes on, and queues it again. It reports whether it did.
func (f *flows) catchUpPaused(endpoint string, st *flowState, pos []byte) bool {
	if st.ahead == nil {
		return false
	}
	st.ahead = pos
	f.addCatchUp(endpoint, pos)
	return true
}

// endCatchUp stops an endpoint's catch-up; it reports whether there was one.
func (f *flows) endCatchUp(endpoint string, st *flowState) bool {
	if st.ahead == nil {
		return false
	}
	st.ahead = nil
	f.catching--
	delete(f.catchUps, endpoint)
	if st.forgettable() && f.endpoints[endpoint] == st {
		delete(f.endpoints, endpoint)
	}
	return true
}

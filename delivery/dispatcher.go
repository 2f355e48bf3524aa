package delivery

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/herald-webhooks/herald/keyring"
	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// DispatcherConfig sizes the dispatcher.
type DispatcherConfig struct {
	Workers                int           // attempts in flight across all endpoints
	MaxInFlightPerEndpoint int           // attempts in flight to one endpoint
	Retry                  RetryPolicy   // when failed deliveries are tried again
	DrainTimeout           time.Duration // how long Close waits for attempts in flight
	Now                    func() time.Time
	// Keys opens endpoint secrets, which are sealed at rest.
	Keys *keyring.Keyring
	// CatchUp sends an endpoint's waiting retries as soon as a retry to it
	// succeeds, without waiting for their due times (see catchUp).
	CatchUp bool
	// OnAttempt, when set, is called as a worker starts an attempt, just
	// after the lease check let it through: tests use it to see which node
	// dispatched what, and when. Nil in production; it must not block.
	OnAttempt func(msgID, endpointID string)
	// Paused, when set and true, holds attempts back (the disk is full,
	// so their outcomes could not be recorded).
	Paused func() bool
}

// Dispatcher runs deliveries on the leader: the scheduler feeds due keys to
// a pool of workers, each worker makes one signed attempt and hands the
// outcome to a group-commit batcher that records it through Raft. On a
// follower it is idle. All it keeps in memory is the set of attempts in
// flight; everything else is in the replicated state.
type Dispatcher struct {
	cfg    DispatcherConfig
	node   *raft.Node
	store  *storage.Store
	sender *Sender
	log    zerolog.Logger
	now    func() time.Time

	outcomes *raft.Batcher[storage.Outcome]
	wake     chan struct{}

	mu        sync.Mutex
	term      *term                     // the current leadership term, nil on a follower
	inflight  map[string]struct{}       // schedule keys dispatched, outcome not yet committed
	endpoints map[string]*endpointState // per endpoint: attempts in flight, first skipped key
	refills   map[string][]byte         // endpoints that drained: where their skipped keys start
	catchUps  map[string][]byte         // endpoints catching up with a free slot: where their scan goes on
	caughtUp  map[string]time.Time      // when each endpoint's last catch-up started (kept catchUpEvery)
	catching  int                       // endpoints catching up now (at most maxCatchingUp)
	rewindTo  []byte                    // a key behind the sweep position appeared; [] = rescan all
	// finished holds keys whose outcome just committed, with the page
	// sequence current at that moment: a page read before then may still
	// list the key, so offers from it are ignored (see readDue).
	finished map[string]uint64
	pageSeq  uint64
	pruneAt  int  // size of endpoints at which idle states are pruned
	draining bool // Close was called: start nothing new
	closed   bool
}

// term is one leadership term's workers and scheduler.
type term struct {
	ctx    context.Context
	cancel context.CancelFunc
	jobs   chan storage.ScheduleEntry
	// recording bounds the outcomes waiting for their Raft commit.
	recording chan struct{}
	wg        sync.WaitGroup
}

type endpointState struct {
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
	// (0 = not failing: MaxInFlightPerEndpoint applies). Each failed
	// attempt halves it, each success doubles it: an endpoint that is down
	// gets one attempt at a time instead of its full limit of retries, so
	// its due retries do not take the node's capacity from the work that
	// can succeed, and a receiver coming back is not hit by a wall of them.
	backoff int
}

// limit is how many attempts the endpoint may have in flight now.
func (d *Dispatcher) limit(st *endpointState) int {
	if st.backoff > 0 {
		return st.backoff
	}
	return d.cfg.MaxInFlightPerEndpoint
}

// skipped remembers k if it is the earliest key skipped so far.
func (s *endpointState) skipped(k []byte) {
	if s.resume == nil || bytes.Compare(k, s.resume) < 0 {
		s.resume = k
	}
}

// NewDispatcher returns a dispatcher; it starts working when node becomes
// leader. main wires the FSM hooks (Scheduled, Restored) to it.
func NewDispatcher(cfg DispatcherConfig, node *raft.Node, store *storage.Store, sender *Sender, log zerolog.Logger) *Dispatcher {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &Dispatcher{
		cfg: cfg, node: node, store: store, sender: sender, log: log, now: cfg.Now,
		wake: make(chan struct{}, 1),
	}
	d.outcomes = raft.NewBatcher(node, raft.BatcherConfig{
		MaxItems: 256, MaxBytes: 1 << 20, MaxInFlight: 4, QueueLen: cfg.Workers,
	}, func(items []storage.Outcome) raft.Command {
		return &raft.RecordOutcomes{Outcomes: items}
	}, func(_ any, n int) []raft.Result {
		return make([]raft.Result, n)
	}, func(o storage.Outcome) int {
		return 128 + len(o.Attempt.Response) + len(o.Attempt.URL) + len(o.Attempt.Error)
	})
	node.OnLeadership(d.setLeader)
	return d
}

// setLeader starts or stops the dispatching term.
func (d *Dispatcher) setLeader(leader bool) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	old := d.term
	d.term = nil
	d.mu.Unlock()
	if old != nil {
		old.cancel()
		old.wg.Wait()
		d.log.Info().Msg("dispatch stopped: no longer leader")
	}
	if !leader {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &term{
		ctx: ctx, cancel: cancel,
		jobs:      make(chan storage.ScheduleEntry, d.cfg.Workers),
		recording: make(chan struct{}, maxRecording),
	}
	// Counted before the term is published: Close may wait on it at once.
	t.wg.Add(1 + d.cfg.Workers)
	d.mu.Lock()
	if d.closed {
		// Close ran meanwhile: nobody would ever stop this term.
		d.mu.Unlock()
		cancel()
		return
	}
	d.term = t
	d.inflight = make(map[string]struct{})
	d.finished = make(map[string]uint64)
	d.endpoints = make(map[string]*endpointState)
	d.pruneAt = maxEndpointStates
	d.refills = nil
	d.catchUps = nil
	d.caughtUp = make(map[string]time.Time)
	d.catching = 0
	d.rewindTo = nil
	d.mu.Unlock()
	for range d.cfg.Workers {
		go d.worker(t)
	}
	go d.scheduleLoop(t)
	d.log.Info().Int("workers", d.cfg.Workers).Msg("dispatch started: leader")
}

// secretRetry is how long a delivery waits when its secret cannot be opened.
const secretRetry = 30 * time.Second

// maxRecording bounds attempt outcomes waiting for their Raft commit.
const maxRecording = 4096

type offerResult int

const (
	offerDispatched offerResult = iota
	offerInFlight
	offerEndpointFull
	offerQueueFull
)

// offer hands a due entry to the workers unless it is already in flight or
// its endpoint is at its limit. An entry offered ahead of its due time (by a
// catch-up) is not remembered as skipped: the catch-up keeps its own place.
func (d *Dispatcher) offer(t *term, e storage.ScheduleEntry, page uint64, ahead bool) offerResult {
	k := string(e.Key.Bytes())
	// Read before taking d.mu: a cache miss is a Badger read.
	ep, epErr := d.store.CachedEndpoint(e.Due.AppID, e.Key.EndpointID)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.draining {
		return offerQueueFull
	}
	if _, ok := d.inflight[k]; ok {
		return offerInFlight
	}
	if seq, ok := d.finished[k]; ok && page <= seq {
		return offerInFlight
	}
	st := d.endpointState(e.Key.EndpointID)
	if ahead && (st.ahead == nil || st.inflight >= st.window) {
		// The catch-up ended, or waits for its window to widen.
		return offerEndpointFull
	}
	if st.resume != nil && (ahead || k > string(st.resume)) {
		// The endpoint's keys skipped earlier go first, by their refill
		// pass: a newer key (or one sent ahead) taking a freed slot
		// could otherwise hold them back for as long as new keys come.
		return offerEndpointFull
	}
	if st.inflight >= d.limit(st) {
		if !ahead {
			st.skipped([]byte(k))
		}
		return offerEndpointFull
	}
	res := d.throttle(st, ep, epErr)
	if res != nil && res.delay > 0 {
		if !ahead {
			st.skipped([]byte(k))
		}
		d.wakeAfter(e.Key.EndpointID, st, res.delay)
		return offerEndpointFull
	}
	select {
	case t.jobs <- e:
	default:
		res.cancel()
		return offerQueueFull
	}
	d.inflight[k] = struct{}{}
	st.inflight++
	return offerDispatched
}

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
// until one is free (and takes none). ep and err are the endpoint's read.
// Called with d.mu held.
func (d *Dispatcher) throttle(st *endpointState, ep storage.Endpoint, err error) *reservation {
	if err != nil {
		// A gone endpoint is closed by the attempt itself; after a read
		// error the limiter is kept, so its bucket does not refill early.
		if errors.Is(err, storage.ErrNotFound) {
			st.limiter = nil
		}
		return nil
	}
	if ep.ThrottleRate == 0 {
		st.limiter = nil
		return nil
	}
	if lim := rate.Limit(ep.ThrottleRate); st.limiter == nil || st.limiter.Limit() != lim {
		st.limiter = rate.NewLimiter(lim, int(ep.ThrottleRate))
	}
	now := d.now()
	r := st.limiter.ReserveN(now, 1)
	res := &reservation{r: r, at: now, delay: r.DelayFrom(now)}
	if res.delay > 0 {
		res.cancel()
	}
	return res
}

// wakeAfter refills a throttled endpoint's skipped keys once its limiter
// has a token again. Called with d.mu held.
func (d *Dispatcher) wakeAfter(endpoint string, st *endpointState, wait time.Duration) {
	if st.timer {
		return
	}
	st.timer = true
	time.AfterFunc(wait, func() {
		d.mu.Lock()
		st.timer = false
		if st.resume != nil {
			d.addRefill(endpoint, st.resume)
			st.resume = nil
		}
		if st.ahead != nil {
			d.addCatchUp(endpoint, st.ahead)
		}
		d.mu.Unlock()
		d.signal()
	})
}

func (d *Dispatcher) endpointState(id string) *endpointState {
	st := d.endpoints[id]
	if st == nil {
		if len(d.endpoints) >= d.pruneAt {
			// Idle endpoints kept only for their backoff are forgotten
			// (they start again from the full limit); the next prune
			// waits until the map has doubled, so states that cannot be
			// pruned (throttled endpoints) do not make each one a scan.
			for k, s := range d.endpoints {
				if s.idle() && s.limiter == nil {
					delete(d.endpoints, k)
				}
			}
			d.pruneAt = max(maxEndpointStates, 2*len(d.endpoints))
		}
		st = &endpointState{}
		d.endpoints[id] = st
	}
	return st
}

// maxEndpointStates is the size from which idle endpoint states are pruned.
const maxEndpointStates = 4096

// idle reports a state with nothing in flight or waiting; it is kept only
// for its limiter or backoff.
func (s *endpointState) idle() bool {
	return s.inflight == 0 && s.resume == nil && s.ahead == nil
}

// forgettable reports a state that holds nothing worth keeping.
func (s *endpointState) forgettable() bool {
	return s.idle() && s.limiter == nil && s.backoff == 0
}

func (d *Dispatcher) addRefill(endpoint string, k []byte) {
	if d.refills == nil {
		d.refills = make(map[string][]byte)
	}
	if cur, ok := d.refills[endpoint]; !ok || string(k) < string(cur) {
		d.refills[endpoint] = k
	}
}

func (d *Dispatcher) addCatchUp(endpoint string, k []byte) {
	if d.catchUps == nil {
		d.catchUps = make(map[string][]byte)
	}
	d.catchUps[endpoint] = k
}

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

// noteResult adjusts an endpoint's backoff after an attempt to it, and
// starts or stops its catch-up: a scheduled retry that succeeded means the
// endpoint is back, and its
// deliveries waiting for their next retry are sent now instead of over the
// hours of the retry schedule; a failure of any attempt started since then
// stops that at once, so a receiver that is still failing keeps the
// schedule's back-off. Called before release.
func (d *Dispatcher) noteResult(e storage.ScheduleEntry, o storage.Outcome) {
	if o.Attempt.ID == "" {
		return // nothing was sent
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.endpoints[e.Key.EndpointID]
	if st == nil {
		return
	}
	if o.Attempt.Status != storage.StatusSuccess {
		if code := o.Attempt.StatusCode; code == 0 || code == 429 || code >= 500 {
			// The endpoint itself is failing (no answer, overloaded,
			// broken), not refusing one message: back off.
			if st.backoff == 0 {
				d.log.Info().Str("endpoint_id", e.Key.EndpointID).Int("status", code).
					Msg("endpoint failing: fewer attempts in flight to it until it answers again")
			}
			st.backoff = max(1, d.limit(st)/2)
		}
		if st.ahead == nil {
			return
		}
		if o.Attempt.Timestamp < st.aheadSince {
			// Sent before the success that started the catch-up: it
			// failed against the receiver as it was, not as it is.
			return
		}
		d.endCatchUp(e.Key.EndpointID, st, "an attempt failed; the retry schedule applies again")
		return
	}
	if st.backoff > 0 {
		if st.backoff *= 2; st.backoff >= d.cfg.MaxInFlightPerEndpoint {
			st.backoff = 0
			d.log.Info().Str("endpoint_id", e.Key.EndpointID).Msg("endpoint answers again: back to its full in-flight limit")
		}
	}
	if !d.cfg.CatchUp {
		return
	}
	if st.ahead != nil {
		st.window = min(2*st.window, d.cfg.MaxInFlightPerEndpoint)
		return
	}
	now := d.now()
	if e.Due.Attempt < 2 || e.Due.Trigger != storage.TriggerScheduled || d.catching >= maxCatchingUp ||
		now.Sub(d.caughtUp[e.Key.EndpointID]) < catchUpEvery {
		return
	}
	if len(d.caughtUp) >= maxCaughtUp {
		for id, at := range d.caughtUp {
			if now.Sub(at) >= catchUpEvery {
				delete(d.caughtUp, id)
			}
		}
	}
	d.caughtUp[e.Key.EndpointID] = now
	d.catching++
	// Keys due by now are the sweep's; the catch-up starts after them.
	st.ahead = storage.ScheduleKey{DueMs: now.UnixMilli() + 1}.Bytes()
	st.window = 1
	st.aheadSince = now.UnixNano()
	catchUpsStarted.Inc()
	d.log.Info().Str("endpoint_id", e.Key.EndpointID).Msg("retry succeeded: sending the endpoint's waiting retries now")
	// release, which follows, queues the scan.
}

// endCatchUp stops an endpoint's catch-up, if it has one, saying why.
// Called with d.mu held.
func (d *Dispatcher) endCatchUp(endpoint string, st *endpointState, why string) {
	if st.ahead == nil {
		return
	}
	d.log.Info().Str("endpoint_id", endpoint).Str("reason", why).Msg("catch-up over")
	st.ahead = nil
	d.catching--
	delete(d.catchUps, endpoint)
	if st.forgettable() && d.endpoints[endpoint] == st {
		delete(d.endpoints, endpoint)
	}
}

// release frees the endpoint's slot once the request is over (answered,
// failed or not made), before its outcome is recorded: the per-endpoint
// limit is about load on the receiver, not on Raft. An endpoint with
// skipped keys gets a refill pass once refillBatch of its slots are free
// (a catch-up likewise, within its window).
func (d *Dispatcher) release(e storage.ScheduleEntry) {
	d.mu.Lock()
	if st := d.endpoints[e.Key.EndpointID]; st != nil {
		st.inflight--
		limit := d.limit(st)
		if st.resume != nil && limit-st.inflight >= refillBatch(limit) {
			d.addRefill(e.Key.EndpointID, st.resume)
			st.resume = nil
		}
		if w := min(st.window, limit); st.ahead != nil && w-st.inflight >= refillBatch(w) {
			d.addCatchUp(e.Key.EndpointID, st.ahead)
		}
		if st.forgettable() {
			delete(d.endpoints, e.Key.EndpointID)
		}
	}
	d.mu.Unlock()
	d.signal()
}

// refillBatch is how many of an endpoint's limit slots must be free before
// a refill (or catch-up) pass runs for it: each pass is a read of the
// schedule, and with one pass per freed slot the reads, not the receiver,
// bounded a drain to one busy endpoint. An eighth of the limit keeps the
// endpoint near its limit at an eighth of the reads.
func refillBatch(limit int) int { return max(1, limit/8) }

// finish forgets a dispatched key. When its outcome was not committed the
// key is still due, so the scheduler is rewound to it.
func (d *Dispatcher) finish(e storage.ScheduleEntry, committed bool) {
	k := e.Key.Bytes()
	d.mu.Lock()
	delete(d.inflight, string(k))
	if committed {
		d.finished[string(k)] = d.pageSeq
	} else {
		d.rewind(k)
	}
	d.mu.Unlock()
	d.signal()
}

func (d *Dispatcher) worker(t *term) {
	defer t.wg.Done()
	for {
		select {
		case <-t.ctx.Done():
			return
		case e := <-t.jobs:
			d.waitForRoom(t)
			d.run(t, e)
		}
	}
}

// waitForRoom holds a worker while the node may not record outcomes (its
// disk is full): an attempt sent then could not be recorded, and would
// only be sent again.
func (d *Dispatcher) waitForRoom(t *term) {
	if d.cfg.Paused == nil {
		return
	}
	for d.cfg.Paused() {
		select {
		case <-t.ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// run makes one attempt for a due entry, then hands the outcome to the
// group-commit batcher without waiting, so the worker is free for the next
// attempt while Raft commits (at most maxRecording outcomes wait at once).
func (d *Dispatcher) run(t *term, e storage.ScheduleEntry) {
	d.mu.Lock()
	draining := d.draining
	d.mu.Unlock()
	if draining || t.ctx.Err() != nil || !d.node.HasLease() {
		d.release(e)
		d.finish(e, false)
		return
	}
	if d.cfg.OnAttempt != nil {
		d.cfg.OnAttempt(e.Key.MsgID, e.Key.EndpointID)
	}
	o, ok := d.attempt(t.ctx, e)
	if ok {
		d.noteResult(e, o)
	}
	d.release(e)
	if !ok || t.ctx.Err() != nil {
		// Leadership ended mid-attempt: the next leader sends it again.
		d.finish(e, false)
		return
	}
	select {
	case t.recording <- struct{}{}:
	case <-t.ctx.Done():
		d.finish(e, false)
		return
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer func() { <-t.recording }()
		_, err := d.outcomes.Submit(t.ctx, o)
		if err != nil {
			outcomesLost.Inc()
			d.log.Warn().Err(err).Str("msg_id", e.Key.MsgID).Str("endpoint_id", e.Key.EndpointID).Msg("attempt outcome not recorded")
		}
		d.finish(e, err == nil)
	}()
}

// attempt loads what the entry refers to, sends it, and decides what
// follows. Deliveries whose app, message or endpoint is gone are closed
// without a request. It returns false when nothing should be recorded (the
// local state could not be read): the key stays due.
func (d *Dispatcher) attempt(ctx context.Context, e storage.ScheduleEntry) (storage.Outcome, bool) {
	o := storage.Outcome{Key: e.Key, AttemptNo: e.Due.Attempt}
	o.Attempt.AppID = e.Due.AppID
	var (
		msg storage.Message
		ep  storage.Endpoint
	)
	err := d.store.View(func(r *storage.Reader) error {
		var err error
		msg, err = r.Message(e.Due.AppID, e.Key.MsgID)
		return err
	})
	if err == nil {
		// Endpoints change rarely: from the store's cache.
		ep, err = d.store.CachedEndpoint(e.Due.AppID, e.Key.EndpointID)
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		o.Final = storage.StatusCanceled
		return o, true
	case err != nil:
		d.log.Error().Err(err).Str("msg_id", e.Key.MsgID).Msg("read delivery state failed")
		return o, false
	case ep.Disabled:
		o.Final = storage.StatusFail
		return o, true
	}
	keys, err := d.signingKeys(&ep)
	if err != nil {
		// A node without the cluster's secrets key cannot sign. Nothing
		// was sent: put the same attempt off, for this node once fixed or
		// another leader, and say why.
		d.log.Error().Err(err).Str("endpoint_id", ep.ID).Msg("endpoint secret cannot be opened: is secrets.key the same on every node?")
		o.AttemptNo = max(e.Due.Attempt, 1) - 1
		o.NextDueMs = d.now().Add(secretRetry).UnixMilli()
		return o, true
	}
	// The lease is checked again right before the request: the reads
	// above take time, and a process paused in between must not send as
	// a leader it no longer is.
	if !d.node.HasLease() {
		return o, false
	}
	start := d.now()
	// The id is taken before the request, so ids of concurrent attempts
	// sort like their start times.
	attemptID := storage.NewID(storage.PrefixAttempt, start)
	resp := d.sender.Send(ctx, Request{
		URL: ep.URL, MsgID: msg.ID, Body: msg.Payload, Headers: ep.Headers,
		Keys: keys, Now: start,
	})
	at := &o.Attempt
	at.ID = attemptID
	at.MsgID = msg.ID
	at.EndpointID = ep.ID
	at.Timestamp = start.UnixNano()
	at.URL = ep.URL
	at.StatusCode = resp.StatusCode
	at.Response = resp.Body
	at.DurationMs = resp.Duration.Milliseconds()
	at.Trigger = e.Due.Trigger
	if resp.Err != nil {
		at.Error = resp.Err.Error()
	}
	attemptDuration.Update(resp.Duration.Seconds())
	class := Classify(resp.StatusCode, resp.Err)
	switch {
	case class == Succeeded:
		at.Status = storage.StatusSuccess
		o.Final = storage.StatusSuccess
		attemptsSucceeded.Inc()
	case class == DisableEndpoint:
		at.Status = storage.StatusFail
		o.Final = storage.StatusFail
		o.DisableEndpoint = true
		attemptsFailed.Inc()
		deliveriesFailed.Inc()
		endpointsDisabled.Inc()
		d.log.Warn().Str("endpoint_id", ep.ID).Str("app_id", ep.AppID).Msg("endpoint answered 410 Gone: disabling it")
	case e.Key.DueMs > start.UnixMilli():
		// Sent ahead of its time by a catch-up, and failed: recorded, but
		// it costs the delivery nothing. It keeps its attempt number and
		// its place in the schedule, as if the catch-up had not come.
		at.Status = storage.StatusFail
		o.Final = storage.StatusFail
		attemptsFailed.Inc()
		o.AttemptNo = max(e.Due.Attempt, 1) - 1
		o.NextDueMs = e.Key.DueMs
	default:
		at.Status = storage.StatusFail
		o.Final = storage.StatusFail
		attemptsFailed.Inc()
		if delay, ok := d.cfg.Retry.NextDelay(int(e.Due.Attempt), resp.StatusCode, resp.RetryAfter, resp.HasRetryAfter, rand.Float64); ok {
			o.NextDueMs = d.now().Add(delay).UnixMilli()
			attemptsRetried.Inc()
		} else {
			deliveriesFailed.Inc()
		}
	}
	d.log.Debug().Str("msg_id", msg.ID).Str("endpoint_id", ep.ID).Int("status", resp.StatusCode).
		Uint32("attempt", e.Due.Attempt).Int64("duration_ms", at.DurationMs).Str("outcome", at.Status.String()).
		Msg("attempt made")
	return o, true
}

// signingKeys returns the keys that sign an attempt: the endpoint's secret,
// then the secrets a rotation replaced that have not expired.
func (d *Dispatcher) signingKeys(ep *storage.Endpoint) ([][]byte, error) {
	key, err := d.signingKey(ep.Secret, ep)
	if err != nil {
		return nil, err
	}
	keys := [][]byte{key}
	now := d.now().UnixNano()
	for _, ps := range ep.PrevSecrets {
		if ps.ExpiresAt <= now {
			continue
		}
		if k, err := d.signingKey(ps.Secret, ep); err == nil {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// signingKey opens a sealed secret of ep and decodes it.
func (d *Dispatcher) signingKey(secret string, ep *storage.Endpoint) ([]byte, error) {
	if keyring.IsSealed(secret) {
		if d.cfg.Keys == nil {
			return nil, errors.New("no secrets key configured")
		}
		plain, err := d.cfg.Keys.Open(secret, ep.SecretAAD())
		if err != nil {
			return nil, err
		}
		secret = string(plain)
	}
	return ParseSecret(secret)
}

// Close stops dispatching: no new attempts start, attempts in flight get up
// to DrainTimeout to finish and have their outcomes recorded, then the rest
// are abandoned (the next leader, or this node after a restart, sends them
// again).
func (d *Dispatcher) Close() {
	d.mu.Lock()
	d.draining = true
	t := d.term
	d.mu.Unlock()
	if t != nil {
		deadline := time.Now().Add(d.cfg.DrainTimeout)
		for d.inFlight() > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := d.inFlight(); n > 0 {
			d.log.Warn().Int("in_flight", n).Msg("drain timeout: abandoning attempts in flight")
		}
	}
	d.mu.Lock()
	d.closed = true
	// The current term, which may have started while Close drained.
	t = d.term
	d.term = nil
	d.mu.Unlock()
	if t != nil {
		t.cancel()
		t.wg.Wait()
	}
	d.outcomes.Close()
}

// InFlight counts attempts started and not yet recorded.
func (d *Dispatcher) InFlight() int { return d.inFlight() }

// inFlight counts attempts started and not yet recorded.
func (d *Dispatcher) inFlight() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.inflight)
}

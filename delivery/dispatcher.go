package delivery

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"

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
	// HeaderStyle names the Standard Webhooks headers of deliveries whose
	// policy leaves it unset (zero: webhook-*).
	HeaderStyle storage.HeaderStyle
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
	// AutoDisableAfter disables an endpoint that has failed every attempt
	// for this long; 0 never does. It is stamped into each outcome
	// command, so every node applies the leader's setting.
	AutoDisableAfter time.Duration
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

	mu       sync.Mutex
	term     *term               // the current leadership term, nil on a follower
	inflight map[string]struct{} // schedule keys dispatched, outcome not yet committed
	flows    *flows              // per-endpoint flow control (flow.go)
	rewindTo []byte              // a key behind the sweep position appeared; [] = rescan all
	// finished holds keys whose outcome just committed, with the page
	// sequence current at that moment: a page read before then may still
	// list the key, so offers from it are ignored (see readDue).
	finished map[string]uint64
	pageSeq  uint64
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
		return &raft.RecordOutcomes{Outcomes: items, Notices: true, AutoDisableNs: int64(cfg.AutoDisableAfter)}
	}, func(_ any, n int) []raft.Result {
		return make([]raft.Result, n)
	}, func(o storage.Outcome) int {
		return 128 + o.Attempt.SizeHint()
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
	d.flows = newFlows(d.cfg.MaxInFlightPerEndpoint, d.cfg.CatchUp)
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
	// Read before taking d.mu: a cache miss is a Badger read. A one-off
	// destination has no throttle.
	var (
		ep    storage.Endpoint
		epErr error
	)
	if !storage.IsDestination(e.Key.EndpointID) {
		ep, epErr = d.store.CachedEndpoint(e.Due.AppID, e.Key.EndpointID)
	}
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
	var now time.Time // only a throttle needs the time
	if epErr == nil && ep.ThrottleRate > 0 {
		now = d.now()
	}
	a := d.flows.offer(e.Key.EndpointID, k, ahead, throttleRead{rate: ep.ThrottleRate, err: epErr}, now)
	if a.wake != nil {
		d.wakeAfter(e.Key.EndpointID, a.wake, a.wakeIn)
	}
	if !a.admit {
		return offerEndpointFull
	}
	select {
	case t.jobs <- e:
	default:
		a.res.cancel()
		return offerQueueFull
	}
	d.inflight[k] = struct{}{}
	d.flows.started(e.Key.EndpointID)
	return offerDispatched
}

// wakeAfter refills a throttled endpoint's skipped keys once its limiter
// has a token again. Called with d.mu held.
func (d *Dispatcher) wakeAfter(endpoint string, st *flowState, wait time.Duration) {
	time.AfterFunc(wait, func() {
		d.mu.Lock()
		d.flows.woken(endpoint, st)
		d.mu.Unlock()
		d.signal()
	})
}

// noteResult tells flow control how an attempt went (see flows.result) and
// says what changed. Called before release.
func (d *Dispatcher) noteResult(e storage.ScheduleEntry, o storage.Outcome) {
	if o.Attempt.ID == "" {
		return // nothing was sent
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.flows.result(e.Key.EndpointID, attemptResult{
		succeeded: o.Attempt.Status == storage.StatusSuccess,
		status:    o.Attempt.StatusCode,
		startedNs: o.Attempt.Timestamp,
		attempt:   e.Due.Attempt,
		trigger:   e.Due.Trigger,
	}, d.now())
	if c.backoffStarted {
		d.log.Info().Str("endpoint_id", e.Key.EndpointID).Int("status", o.Attempt.StatusCode).
			Msg("endpoint failing: fewer attempts in flight to it until it answers again")
	}
	if c.backoffEnded {
		d.log.Info().Str("endpoint_id", e.Key.EndpointID).Msg("endpoint answers again: back to its full in-flight limit")
	}
	if c.catchUpEnded != "" {
		d.logCatchUpOver(e.Key.EndpointID, c.catchUpEnded)
	}
	if c.catchUpStarted {
		catchUpsStarted.Inc()
		d.log.Info().Str("endpoint_id", e.Key.EndpointID).Msg("retry succeeded: sending the endpoint's waiting retries now")
	}
}

// endCatchUp stops an endpoint's catch-up, if it has one, saying why.
// Called with d.mu held.
func (d *Dispatcher) endCatchUp(endpoint string, st *flowState, why string) {
	if d.flows.endCatchUp(endpoint, st) {
		d.logCatchUpOver(endpoint, why)
	}
}

func (d *Dispatcher) logCatchUpOver(endpoint, why string) {
	d.log.Info().Str("endpoint_id", endpoint).Str("reason", why).Msg("catch-up over")
}

// release frees the endpoint's slot once the request is over (answered,
// failed or not made), before its outcome is recorded: the per-endpoint
// limit is about load on the receiver, not on Raft.
func (d *Dispatcher) release(e storage.ScheduleEntry) {
	d.mu.Lock()
	d.flows.release(e.Key.EndpointID)
	d.mu.Unlock()
	d.signal()
}

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
		tg  target
	)
	err := d.store.View(func(r *storage.Reader) error {
		var err error
		msg, err = r.Message(e.Due.AppID, e.Key.MsgID)
		return err
	})
	if err == nil {
		tg, err = d.resolveTarget(e, &msg)
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		o.Final = storage.StatusCanceled
		return o, true
	case errors.Is(err, errNoAppSecret):
	case err != nil:
		d.log.Error().Err(err).Str("msg_id", e.Key.MsgID).Msg("read delivery state failed")
		return o, false
	case tg.endpoint != nil && tg.endpoint.Disabled:
		o.Final = storage.StatusFail
		return o, true
	}
	var (
		keys    [][]byte
		headers map[string]string
	)
	if err == nil {
		keys, err = d.signingKeys(&tg)
	}
	if err == nil && tg.endpoint != nil {
		headers, err = OpenHeaders(d.cfg.Keys, tg.endpoint)
	}
	if err != nil {
		// A node without the cluster's secrets key cannot sign or send
		// the custom headers. Nothing was sent: put the same attempt off,
		// for this node once fixed or another leader, and say why.
		d.log.Error().Err(err).Str("endpoint_id", tg.id).Msg("endpoint secret or header cannot be opened: is secrets.key the same on every node?")
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
	req := Request{
		URL: tg.url, MsgID: msg.ID, Body: msg.Payload, Headers: headers,
		Keys: keys, Now: start,
	}
	sp := e.Due.Policy
	if sp == nil {
		sp = &noPolicy
	}
	req.Timeout = time.Duration(sp.AttemptTimeoutMs) * time.Millisecond
	if sp.Scheme != storage.SchemeInherit || sp.Headers != storage.HeadersInherit || d.cfg.HeaderStyle > storage.HeadersWebhook {
		req.Signing = signingFor(sp, storage.DeliveryID(msg.ID, tg.id))
		if req.Signing.Headers == storage.HeadersInherit {
			req.Signing.Headers = d.cfg.HeaderStyle
		}
		if req.Signing.needsSecretText() {
			text, err := d.openSecret(tg.secret, tg.aad)
			if err != nil {
				d.log.Error().Err(err).Str("endpoint_id", tg.id).Msg("endpoint secret cannot be opened: is secrets.key the same on every node?")
				o.AttemptNo = max(e.Due.Attempt, 1) - 1
				o.NextDueMs = d.now().Add(secretRetry).UnixMilli()
				return o, true
			}
			req.Signing.Secret = []byte(text)
		}
	}
	resp := d.sender.Send(ctx, req)
	at := &o.Attempt
	at.ID = attemptID
	at.MsgID = msg.ID
	at.EndpointID = tg.id
	at.Timestamp = start.UnixNano()
	at.URL = tg.url
	at.StatusCode = resp.StatusCode
	at.Response = resp.Body
	at.RequestHeaders, at.ResponseHeaders = resp.RequestHeaders, resp.Headers
	SealRecordedHeaders(d.cfg.Keys, at, headers)
	at.DurationMs = resp.Duration.Milliseconds()
	at.Trigger = e.Due.Trigger
	if resp.Err != nil {
		at.Error = resp.Err.Error()
	}
	attemptDuration.Update(resp.Duration.Seconds())
	policy := d.cfg.Retry
	if e.Due.Policy != nil {
		policy = policy.With(e.Due.Policy)
	}
	dc := decide(policy, attemptFacts{
		status: resp.StatusCode, err: resp.Err,
		retryAfter: resp.RetryAfter, hasRetryAfter: resp.HasRetryAfter,
		attempt: e.Due.Attempt, dueMs: e.Key.DueMs, start: start, end: d.now(),
	}, rand.Float64)
	// A one-off destination answering 410 has its delivery abandoned, as
	// decided; there is no endpoint to disable.
	dc.disable = dc.disable && tg.endpoint != nil
	at.Status, o.Final, o.DisableEndpoint = dc.status, dc.final, dc.disable
	o.AttemptNo, o.NextDueMs = dc.attemptNo, dc.nextDueMs
	if dc.verdict == Succeeded {
		attemptsSucceeded.Inc()
	} else {
		attemptsFailed.Inc()
	}
	switch {
	case dc.disable:
		deliveriesFailed.Inc()
		endpointsDisabled.Inc()
		d.log.Warn().Str("endpoint_id", tg.id).Str("app_id", e.Due.AppID).Msg("endpoint answered 410 Gone: disabling it")
	case dc.exhausted:
		deliveriesFailed.Inc()
	case dc.nextDueMs != 0 && !dc.early:
		attemptsRetried.Inc()
	}
	d.log.Debug().Str("msg_id", msg.ID).Str("endpoint_id", tg.id).Int("status", resp.StatusCode).
		Uint32("attempt", e.Due.Attempt).Int64("duration_ms", at.DurationMs).Str("outcome", at.Status.String()).
		Msg("attempt made")
	return o, true
}

// noPolicy is the stamped policy of a delivery that sets nothing.
var noPolicy storage.Policy

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

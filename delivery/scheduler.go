package delivery

import (
	"bytes"
	"math"
	"time"

	"github.com/herald-webhooks/herald/storage"
)

// The scheduler turns the schedule index (keys ordered by due time) into
// jobs for the workers. It runs only on the leader, and it never holds more
// of the index in memory than one page plus the jobs in flight.
//
// It keeps one cursor: every due key at or before it has been handled,
// either dispatched (and kept in the in-flight set until its outcome is
// committed) or skipped because its endpoint already had its fill of
// attempts in flight. An endpoint that was skipped remembers its first
// skipped key, and when it drains, a refill pass walks from there for that
// endpoint only. So the work of a scan stays proportional to what it
// dispatches, even with a large backlog behind one slow endpoint.
//
// The cursor moves back when a key appears behind it: the FSM reports the
// earliest due time of every applied batch (Scheduled), and a failed
// outcome commit rewinds to its key.

const scanPage = 512

// scanRetry is how soon a schedule read that failed is tried again.
const scanRetry = time.Second

// leaseRecheck is how often a leader whose lease lapsed looks again.
const leaseRecheck = 50 * time.Millisecond

// Scheduled is the FSM hook: a batch wrote schedule keys, the earliest due
// at minDueMs. It never blocks.
func (d *Dispatcher) Scheduled(minDueMs int64) {
	d.mu.Lock()
	d.rewind(storage.ScheduleKey{DueMs: minDueMs}.Bytes())
	d.mu.Unlock()
	d.signal()
}

// Restored is the FSM hook for a snapshot restore: everything may have
// changed, so scan again from the start.
func (d *Dispatcher) Restored() {
	d.mu.Lock()
	d.rewindTo = []byte{}
	d.mu.Unlock()
	d.signal()
}

// rewind asks the scheduler to look again from key k. Called with d.mu held.
func (d *Dispatcher) rewind(k []byte) {
	if d.rewindTo == nil || bytes.Compare(k, d.rewindTo) < 0 {
		d.rewindTo = k
	}
}

func (d *Dispatcher) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// successor returns the smallest key after k.
func successor(k []byte) []byte { return append(bytes.Clone(k), 0) }

// scheduleLoop runs for one leadership term.
func (d *Dispatcher) scheduleLoop(t *term) {
	defer t.wg.Done()
	var next []byte // first key not yet handled; nil = start of the index
	// The sweep reads from next on. It runs when keys may have become due
	// there: at the start, after a rewind, when the first key not yet due
	// comes due (dueMs), or after it stopped on a full job queue. Most
	// wakes are a worker freeing a slot, which needs only its refill.
	sweepNeeded := true
	var dueMs int64
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		if d.rewindTo != nil {
			if len(d.rewindTo) == 0 {
				next = nil
			} else if next != nil && bytes.Compare(d.rewindTo, next) < 0 {
				next = d.rewindTo
			}
			d.rewindTo = nil
			sweepNeeded = true
		}
		refills, catchUps := d.flows.takePasses()
		d.mu.Unlock()

		wait := time.Hour
		if d.node.HasLease() {
			now := d.now().UnixMilli()
			failed := false
			for ep, from := range refills {
				failed = d.refill(t, ep, from, next, now) || failed
			}
			if sweepNeeded || (dueMs > 0 && dueMs <= now) {
				var blocked, sweepFailed bool
				dueMs, blocked, sweepFailed = d.sweep(t, &next, now)
				sweepNeeded = blocked || sweepFailed
				failed = failed || sweepFailed
			}
			// Due keys first: a catch-up takes only the slots they leave.
			for ep, from := range catchUps {
				d.catchUp(t, ep, from)
			}
			if dueMs > 0 {
				wait = max(time.Duration(dueMs-d.now().UnixMilli())*time.Millisecond, 0)
			}
			if failed {
				wait = min(wait, scanRetry)
			}
		} else {
			// Leader without a fresh quorum confirmation: start nothing
			// until it is renewed (or leadership is lost and this term
			// ends). Skipped refills are kept for then.
			d.mu.Lock()
			for ep, from := range refills {
				d.flows.addRefill(ep, from)
			}
			for ep, from := range catchUps {
				d.flows.requeueCatchUp(ep, from)
			}
			d.mu.Unlock()
			wait = leaseRecheck
			sweepNeeded = true
		}
		resetTimer(timer, wait)
		select {
		case <-t.ctx.Done():
			return
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// readDue reads one page of due entries from the key from on. Pages are
// numbered: an outcome committed while page n was the latest read may still
// appear in pages up to n (they were read before the key was deleted), so
// offer ignores it there; later pages cannot list it, so the memory of
// finished keys is dropped as the pages move on.
func (d *Dispatcher) readDue(from []byte, nowMs int64, limit int) (entries []storage.ScheduleEntry, dueMs int64, page uint64, err error) {
	d.mu.Lock()
	d.pageSeq++
	page = d.pageSeq
	for k, seq := range d.finished {
		if seq < page {
			delete(d.finished, k)
		}
	}
	d.mu.Unlock()
	err = d.store.View(func(r *storage.Reader) error {
		entries, dueMs, err = r.DueEntries(from, nowMs, limit)
		return err
	})
	return entries, dueMs, page, err
}

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	select {
	case <-t.C:
	default:
	}
	t.Reset(d)
}

// sweep dispatches due keys from *next on until nothing more is due or the
// job queue is full, advancing *next past every key it handled. It returns
// the due time of the first key not yet due (0 = none known), whether it
// stopped on a full queue (a finishing worker wakes the loop then), and
// whether the schedule could not be read (the loop tries again shortly).
func (d *Dispatcher) sweep(t *term, next *[]byte, nowMs int64) (dueMs int64, blocked, failed bool) {
	for {
		entries, dueMs, page, err := d.readDue(*next, nowMs, scanPage)
		if err != nil {
			d.log.Error().Err(err).Msg("schedule scan failed")
			return 0, false, true
		}
		for _, e := range entries {
			if d.offer(t, e, page, false) == offerQueueFull {
				return 0, true, false
			}
			*next = successor(e.Key.Bytes())
		}
		if len(entries) < scanPage {
			return dueMs, false, false
		}
	}
}

// firstPage is the page size a refill or catch-up starts with: each usually
// fills the few slots its endpoint freed, so a full page would mostly be
// read for nothing; it doubles up to scanPage while the pass goes on.
const firstPage = 64

// refill walks from a drained endpoint's first skipped key up to the sweep
// position and dispatches that endpoint's keys until it is full again. It
// reports a failed read; the pass is then queued again from the start.
func (d *Dispatcher) refill(t *term, endpoint string, from, limit []byte, nowMs int64) (failed bool) {
	res, _ := d.scanFor(t, endpoint, from, limit, nowMs, 0, func(k []byte, r offerResult) {
		if r == offerQueueFull {
			// Try again from here once a worker frees a slot.
			d.mu.Lock()
			d.flows.addRefill(endpoint, k)
			d.mu.Unlock()
		}
	})
	if res != scanFailed {
		return false
	}
	d.mu.Lock()
	d.flows.addRefill(endpoint, from)
	d.mu.Unlock()
	return true
}

// farFuture is a due time past every key's.
const farFuture = math.MaxInt64 - 1

// catchUpPages bounds the pages one catch-up pass reads before it lets the
// scheduler loop go on (and queues itself again): the keys it walks past
// belong to every endpoint, and due work must not wait behind them.
const catchUpPages = 8

// catchUp goes on with an endpoint's catch-up (see noteResult): it walks the
// schedule from where the last pass stopped, due or not, and dispatches the
// endpoint's keys while its catch-up window has room. The place is kept for
// the next free slot; at the end of the schedule (or on a read error) the
// catch-up is over.
func (d *Dispatcher) catchUp(t *term, endpoint string, from []byte) {
	d.mu.Lock()
	st := d.flows.catchingUp(endpoint)
	d.mu.Unlock()
	if st == nil {
		return
	}
	res, pos := d.scanFor(t, endpoint, from, nil, farFuture, catchUpPages, func(k []byte, r offerResult) {
		d.mu.Lock()
		d.flows.catchUpStopped(endpoint, st, k, r == offerQueueFull)
		d.mu.Unlock()
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	switch res {
	case scanEnd:
		d.endCatchUp(endpoint, st, "every waiting delivery was sent")
	case scanFailed:
		d.endCatchUp(endpoint, st, "the schedule could not be read")
	case scanPaused:
		if d.flows.catchUpPaused(endpoint, st, pos) {
			d.signal()
		}
	}
}

type scanResult int

const (
	scanEnd     scanResult = iota // walked to the end (or to the limit)
	scanStopped                   // an offer found the queue or the endpoint full
	scanPaused                    // read maxPages pages; go on from the position returned
	scanFailed                    // the schedule could not be read
)

// scanFor walks the schedule from the key from (up to limit, nil = no
// limit, and to keys due by uptoMs) and offers endpoint's keys. When an
// offer finds the queue or the endpoint full it calls stopped with that
// key. After maxPages pages (0 = no bound) it returns where to go on.
func (d *Dispatcher) scanFor(t *term, endpoint string, from, limit []byte, uptoMs int64, maxPages int,
	stopped func(k []byte, r offerResult)) (scanResult, []byte) {
	ahead := uptoMs == farFuture
	pos, size := from, firstPage
	for pages := 1; ; pages++ {
		entries, _, page, err := d.readDue(pos, uptoMs, size)
		if err != nil {
			d.log.Error().Err(err).Msg("schedule scan failed")
			return scanFailed, nil
		}
		for _, e := range entries {
			k := e.Key.Bytes()
			if limit != nil && bytes.Compare(k, limit) >= 0 {
				return scanEnd, nil
			}
			if e.Key.EndpointID == endpoint {
				if r := d.offer(t, e, page, ahead); r == offerQueueFull || r == offerEndpointFull {
					stopped(k, r)
					return scanStopped, nil
				}
			}
			pos = successor(k)
		}
		if len(entries) < size {
			return scanEnd, nil
		}
		if maxPages > 0 && pages >= maxPages {
			return scanPaused, pos
		}
		size = min(2*size, scanPage)
	}
}

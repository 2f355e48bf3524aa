package appliance

import (
	"time"

	"github.com/VictoriaMetrics/metrics"
	"golang.org/x/time/rate"

	"github.com/herald-webhooks/herald/raft"
)

// Retention purge progress, counted on the leader that ran it.
var (
	payloadsExpired = metrics.NewCounter(`herald_retention_payloads_expired_total`)
	messagesPurged  = metrics.NewCounter(`herald_retention_messages_purged_total`)
	purgeRuns       = metrics.NewCounter(`herald_retention_purge_runs_total`)
	purgeBackoffs   = metrics.NewFloatCounter(`herald_retention_purge_backoff_seconds_total`)
)

// maxPurgeRounds bounds the entries one purge pass applies; the next pass
// goes on where it stopped.
const maxPurgeRounds = 200

// purge is the leader's retention pass: it drops the payloads that are
// due and removes the messages older than the record retention, in small
// replicated entries that ingest and delivery entries interleave with,
// paced by a purgePacer. Times come from this leader's clock; the FSM
// reads none.
func (a *Appliance) purge() {
	st := a.cfg.Storage
	now := a.now()
	purgeRuns.Inc()
	p := a.purgePacer()
	for range maxPurgeRounds {
		n, ok := p.next()
		if !ok {
			return
		}
		res, ok := p.apply(&raft.ExpirePayloads{NowMs: now.UnixMilli(), Limit: uint32(n)})
		if !ok {
			return
		}
		payloadsExpired.Add(res.Count)
		if res.Count < n {
			break
		}
	}
	before := now.Add(-st.RecordRetention.Duration).UnixNano()
	cursor := ""
	for range maxPurgeRounds {
		n, ok := p.next()
		if !ok {
			return
		}
		res, ok := p.apply(&raft.PurgeMessages{BeforeNs: before, AfterApp: cursor, Limit: uint32(n)})
		if !ok {
			return
		}
		messagesPurged.Add(res.Count)
		cursor = res.Cursor
		if cursor == "" && res.Count < n {
			return
		}
	}
}

// purgePacer keeps the purge from taking the log from ingest and
// delivery. Three bounds hold:
//
//   - storage.purge_rate: a token bucket of items (payloads or messages)
//     per second, the most the purge removes however idle the node is;
//   - one entry removes at most a tenth of a second's worth of the rate
//     (and at most storage.purge_batch), so no single entry holds the
//     FSM long;
//   - while client writes or delivery outcomes wait for the log (the
//     node's batchers hold items back: raft.Node.Waiting), the purge
//     takes at most storage.purge_busy_share of the time: after an entry
//     that took d to apply it waits d*(1/share-1) before the next. A node
//     whose writers are not held back purges at the rate.
type purgePacer struct {
	a       *Appliance
	limiter *rate.Limiter
	per     int     // items per entry
	share   float64 // of the time, while writers wait
	// sleep waits d, or less when the node stops: false then.
	sleep func(d time.Duration) bool
}

// purgePacer returns the leader's pacer, created on first use so the token
// bucket carries over between passes.
func (a *Appliance) purgePacer() *purgePacer {
	if a.pacer == nil {
		st := a.cfg.Storage
		per := max(1, min(st.PurgeBatch, st.PurgeRate/10))
		a.pacer = &purgePacer{
			a:       a,
			limiter: rate.NewLimiter(rate.Limit(st.PurgeRate), per),
			per:     per,
			share:   st.PurgeBusyShare,
			sleep:   a.sleep,
		}
	}
	return a.pacer
}

// next waits until the rate allows one more entry and returns how many
// items it may remove; false when the node stops first.
func (p *purgePacer) next() (int, bool) {
	r := p.limiter.ReserveN(time.Now(), p.per)
	return p.per, p.sleep(r.Delay())
}

// apply replicates one purge entry, then backs off while the log is busy.
func (p *purgePacer) apply(cmd raft.Command) (raft.Result, bool) {
	a := p.a
	select {
	case <-a.stopTasks:
		return raft.Result{}, false
	default:
	}
	if !a.node.IsLeader() {
		return raft.Result{}, false
	}
	busy := a.node.Waiting() > 0
	start := time.Now()
	resp, err := a.node.Apply(cmd)
	took := time.Since(start)
	busy = busy || a.node.Waiting() > 0
	if err != nil {
		a.log.Warn().Err(err).Str("component", "raft").Msg("retention purge failed")
		return raft.Result{}, false
	}
	res, _ := resp.(raft.Result)
	if wait := p.backoff(took, busy); wait > 0 {
		purgeBackoffs.Add(wait.Seconds())
		if !p.sleep(wait) {
			return res, false
		}
	}
	return res, true
}

// backoff is the wait after a purge entry that took took to apply; busy
// when writers waited for the log before or after it. An entry's time
// includes its wait behind the writers' entries, so under a deep queue it
// says more about them than about the purge: the wait is capped at
// maxPurgeBackoff, or one slow entry would stop the purge for minutes.
func (p *purgePacer) backoff(took time.Duration, busy bool) time.Duration {
	if !busy || p.share >= 1 {
		return 0
	}
	return min(maxPurgeBackoff, time.Duration(float64(took)*(1/p.share-1)))
}

// maxPurgeBackoff bounds one wait of the purge for busy writers.
const maxPurgeBackoff = time.Second

// sleep waits d unless the node stops first; false when it stopped.
func (a *Appliance) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-a.stopTasks:
		return false
	}
}

package appliance

import (
	"github.com/VictoriaMetrics/metrics"

	"github.com/herald-webhooks/herald/raft"
)

// Retention purge progress, counted on the leader that ran it.
var (
	payloadsExpired = metrics.NewCounter(`herald_retention_payloads_expired_total`)
	messagesPurged  = metrics.NewCounter(`herald_retention_messages_purged_total`)
	purgeRuns       = metrics.NewCounter(`herald_retention_purge_runs_total`)
)

// maxPurgeRounds bounds the entries one purge pass applies; the next pass
// goes on where it stopped.
const maxPurgeRounds = 200

// purge is the leader's retention pass: it drops the payloads that are
// due and removes the messages older than the record retention, in small
// replicated entries (storage.purge_batch each) that ingest and delivery
// entries interleave with. Times come from this leader's clock; the FSM
// reads none.
func (a *Appliance) purge() {
	st := a.cfg.Storage
	batch := uint32(st.PurgeBatch)
	now := a.now()
	purgeRuns.Inc()
	for range maxPurgeRounds {
		res, ok := a.applyPurge(&raft.ExpirePayloads{NowMs: now.UnixMilli(), Limit: batch})
		if !ok {
			return
		}
		payloadsExpired.Add(res.Count)
		if res.Count < int(batch) {
			break
		}
	}
	before := now.Add(-st.RecordRetention.Duration).UnixNano()
	cursor := ""
	for range maxPurgeRounds {
		res, ok := a.applyPurge(&raft.PurgeMessages{BeforeNs: before, AfterApp: cursor, Limit: batch})
		if !ok {
			return
		}
		messagesPurged.Add(res.Count)
		cursor = res.Cursor
		if cursor == "" && res.Count < int(batch) {
			return
		}
	}
}

func (a *Appliance) applyPurge(cmd raft.Command) (raft.Result, bool) {
	select {
	case <-a.stopTasks:
		return raft.Result{}, false
	default:
	}
	if !a.node.IsLeader() {
		return raft.Result{}, false
	}
	resp, err := a.node.Apply(cmd)
	if err != nil {
		a.log.Warn().Err(err).Str("component", "raft").Msg("retention purge failed")
		return raft.Result{}, false
	}
	res, _ := resp.(raft.Result)
	return res, true
}

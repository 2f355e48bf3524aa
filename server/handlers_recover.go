package server

import (
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// recoverChunk is how many of an endpoint's messages one Raft entry of a
// recovery looks at.
const recoverChunk = 1000

type recoverOut struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Task   string `json:"task"`
}

// recoverEndpoint re-queues, now, every delivery to the endpoint that
// failed for good, of the messages created since (and before until), as
// Svix's recover does: after a receiver's outage, its failed messages go
// out again at once instead of waiting for someone to resend each. It
// answers 202 with a task; the leader works through the range in the
// background, a Raft entry per chunk.
func (s *Server) recoverEndpoint(c *fasthttp.RequestCtx, p principal) error {
	var in struct {
		Since *time.Time `json:"since"`
		Until *time.Time `json:"until"`
	}
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	a, ep, err := s.loadEndpoint(c, p)
	if err != nil {
		return err
	}
	now := s.now()
	var v violations
	until := now
	// Message ids carry their creation second, from 2014 (KSUID's epoch)
	// on; earlier dates would also overflow the nanosecond bounds.
	epoch := time.Date(2014, 5, 13, 16, 53, 20, 0, time.UTC)
	if in.Since == nil {
		v.add("field required", "since")
	} else {
		v.check(!in.Since.After(now), "must not be in the future", "since")
		v.check(!in.Since.Before(epoch), "must not be before 2014-05-13", "since")
	}
	if in.Until != nil {
		until = *in.Until
		v.check(in.Since == nil || in.Until.After(*in.Since), "must be after since", "until")
		v.check(in.Until.Year() < 2200, "must be before 2200", "until")
	}
	if err := v.err(); err != nil {
		return err
	}
	task := recoverOut{ID: storage.NewID("qtask_", now), Status: "running", Task: "endpoint.recover"}
	s.taskMu.Lock()
	if s.closing.Load() {
		s.taskMu.Unlock()
		return errShuttingDown
	}
	s.tasks.Add(1)
	s.taskMu.Unlock()
	go s.runRecovery(task.ID, a.ID, ep.ID, in.Since.UnixNano(), until.UnixNano())
	writeJSON(c, http.StatusAccepted, task)
	return nil
}

// runRecovery applies a recovery chunk by chunk until its range is done,
// the node shuts down or loses leadership (logged; the client may ask
// again, re-queuing is idempotent for deliveries already pending).
func (s *Server) runRecovery(taskID, appID, epID string, since, until int64) {
	defer s.tasks.Done()
	log := s.log.With().Str("component", "api").Str("task_id", taskID).Str("endpoint_id", epID).Logger()
	total, cursor := 0, ""
	for !s.closing.Load() {
		resp, err := s.node.Apply(&raft.Recover{
			Meta: raft.Meta{Time: s.now().UnixNano()}, AppID: appID, EndpointID: epID,
			Since: since, Until: until, After: cursor, Limit: recoverChunk,
		})
		if err != nil {
			log.Warn().Err(err).Int("requeued", total).Msg("endpoint recovery stopped")
			return
		}
		res, _ := resp.(raft.Result)
		total += res.Count
		if cursor = res.Cursor; cursor == "" {
			log.Info().Int("requeued", total).Msg("endpoint recovery finished")
			return
		}
	}
	log.Warn().Int("requeued", total).Msg("endpoint recovery stopped by shutdown")
}

package server

import (
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// recoverChunk is how many of an endpoint's messages one Raft entry of a
// recovery or replay looks at.
const recoverChunk = 1000

// idEpoch is the earliest time a message id can carry (KSUID's epoch):
// earlier bounds would wrap around in id seeks.
var idEpoch = time.Date(2014, 5, 13, 16, 53, 20, 0, time.UTC)

// rangeIn is the body of recover and replay-missing (Svix's RecoverIn and
// ReplayIn).
type rangeIn struct {
	Since *time.Time `json:"since"`
	Until *time.Time `json:"until"`
}

// bounds checks the range and returns it in unix nanoseconds; until
// defaults to now.
func (in *rangeIn) bounds(now time.Time) (since, until int64, err error) {
	var v violations
	end := now
	if in.Since == nil {
		v.add("field required", "since")
	} else {
		v.check(!in.Since.After(now), "must not be in the future", "since")
		v.check(!in.Since.Before(idEpoch), "must not be before 2014-05-13", "since")
	}
	if in.Until != nil {
		end = *in.Until
		v.check(in.Since == nil || in.Until.After(*in.Since), "must be after since", "until")
		v.check(in.Until.Year() < 2200, "must be before 2200", "until")
	}
	if err := v.err(); err != nil {
		return 0, 0, err
	}
	return in.Since.UnixNano(), end.UnixNano(), nil
}

// recoverEndpoint re-queues, now, every delivery to the endpoint that
// failed for good, of the messages created since (and before until), as
// Svix's recover does: after a receiver's outage, its failed messages go
// out again at once instead of waiting for someone to resend each.
//
// The path may name a one-off destination id (dst_...) instead of an
// endpoint: its failed deliveries of the range are re-queued the same way.
func (s *Server) recoverEndpoint(c *fasthttp.RequestCtx, p principal) error {
	return s.rangeTask(c, p, taskRecover, func(m raft.Meta, appID, epID string, since, until int64, after string) raft.Command {
		return &raft.Recover{Meta: m, EndpointRange: raft.EndpointRange{AppID: appID, EndpointID: epID, Since: since, Until: until, After: after, Limit: recoverChunk}}
	})
}

// replayMissing sends the endpoint, now, the messages since (and before
// until) that it never got, as Svix's replay-missing does: an endpoint
// created late, or that subscribed to a type late, catches up.
func (s *Server) replayMissing(c *fasthttp.RequestCtx, p principal) error {
	return s.rangeTask(c, p, taskReplay, func(m raft.Meta, appID, epID string, since, until int64, after string) raft.Command {
		return &raft.ReplayMissing{Meta: m, EndpointRange: raft.EndpointRange{AppID: appID, EndpointID: epID, Since: since, Until: until, After: after, Limit: recoverChunk}}
	})
}

// rangeTask answers 202 with a task and has the leader work through the
// endpoint's range in the background, a Raft entry per chunk.
func (s *Server) rangeTask(c *fasthttp.RequestCtx, p principal, kind string,
	step func(m raft.Meta, appID, epID string, since, until int64, after string) raft.Command) error {
	var in rangeIn
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	load := s.loadDeliveryTarget
	if kind != taskRecover {
		// Replaying what a destination never got means nothing: a
		// one-off destination gets only the messages that name it.
		load = func(c *fasthttp.RequestCtx, p principal) (storage.App, string, error) {
			a, ep, err := s.loadEndpoint(c, p)
			return a, ep.ID, err
		}
	}
	a, epID, err := load(c, p)
	if err != nil {
		return err
	}
	since, until, err := in.bounds(s.now())
	if err != nil {
		return err
	}
	t, err := s.startTask(kind, a.ID, epID, func() (any, error) {
		n, err := s.chunked(func(after string) raft.Command {
			return step(raft.Meta{Time: s.now().UnixNano()}, a.ID, epID, since, until, after)
		})
		return map[string]any{"queued": n}, err
	})
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusAccepted, toTaskOut(&t))
	return nil
}

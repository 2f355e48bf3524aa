package server

import (
	"bytes"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/storage"
)

// Writes reach the leader. A follower forwards a write to the leader's API
// and relays the answer unchanged (status, body, the idempotency replay
// header), so a client sees the same thing whichever node it talks to;
// with ?redirect=true it answers 307 to the leader instead.

// forwardedHeader marks a request a node forwarded; a node that is not the
// leader either refuses it rather than forwarding again, so a stale view of
// the leader cannot make requests loop.
const forwardedHeader = "X-Herald-Forwarded-By"

// forwardTimeout bounds a forwarded request; message writes wait for a
// quorum, so it is generous.
const forwardTimeout = 30 * time.Second

// relayHeaders are the response headers a follower passes back.
var relayHeaders = []string{"Content-Type", "Idempotent-Replayed", "Location", "Retry-After"}

// write wraps a handler that changes state: authenticate here, then run it
// on the leader. The rate limit is counted on the leader only, once per
// write whichever node it came through (a follower does not count what it
// forwards, and no request header can skip the leader's count).
func (s *Server) write(h handler) fasthttp.RequestHandler {
	return s.authenticated(func(c *fasthttp.RequestCtx, p principal) error {
		if !s.node.IsLeader() {
			return s.forward(c)
		}
		if err := s.writeAllowed(c, p); err != nil {
			return err
		}
		return h(c, p)
	})
}

// writeAllowed applies a write's limits on the leader: the caller's rate
// limit, then the disk check.
func (s *Server) writeAllowed(c *fasthttp.RequestCtx, p principal) error {
	if err := s.limits.allow(c, p); err != nil {
		return err
	}
	return s.diskAllows(c)
}

// forward relays the request to the leader, or redirects to it. When the
// leader changes while the request is out (the old one died or froze), the
// client gets 503 at once rather than after the forward timeout: it
// retries, with its idempotency key, and reaches the new leader.
func (s *Server) forward(c *fasthttp.RequestCtx) error {
	if len(c.Request.Header.Peek(forwardedHeader)) > 0 {
		return errNotLeader
	}
	_, leaderID := s.node.Leader()
	leader := s.node.LeaderHTTPAddr()
	if leader == "" {
		// A node restarted on a full disk cannot elect itself (a vote and
		// a leader's first entry are writes): its disk is the reason
		// that lasts, and the one to report.
		if err := s.diskAllows(c); err != nil {
			return err
		}
		c.Response.Header.Set("Retry-After", "1")
		return errNotLeader
	}
	if string(c.QueryArgs().Peek("redirect")) == "true" {
		c.Response.Header.Set("Location", s.peerURL(leader, string(c.RequestURI())))
		c.SetStatusCode(http.StatusTemporaryRedirect)
		return nil
	}
	// The request is copied here: the relay goroutine may outlive this
	// handler, and fasthttp reuses the request context afterwards.
	req := fasthttp.AcquireRequest()
	c.Request.Header.CopyTo(&req.Header)
	req.SetBody(c.PostBody())
	req.SetRequestURI(s.peerURL(leader, string(c.RequestURI())))
	req.Header.Set(forwardedHeader, s.node.ID())
	done := make(chan *fasthttp.Response, 1)
	failed := make(chan error, 1)
	go func() {
		defer fasthttp.ReleaseRequest(req)
		resp := fasthttp.AcquireResponse()
		if err := s.forwarder.DoTimeout(req, resp, forwardTimeout); err != nil {
			fasthttp.ReleaseResponse(resp)
			failed <- err
			return
		}
		done <- resp
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case resp := <-done:
			defer fasthttp.ReleaseResponse(resp)
			c.SetStatusCode(resp.StatusCode())
			for _, h := range relayHeaders {
				if v := resp.Header.Peek(h); len(v) > 0 {
					c.Response.Header.SetBytesV(h, v)
				}
			}
			c.SetBody(resp.Body())
			return nil
		case err := <-failed:
			s.log.Warn().Err(err).Str("leader", leader).Msg("forward to leader failed")
			c.Response.Header.Set("Retry-After", "1")
			return errUnavailable
		case <-tick.C:
			if _, now := s.node.Leader(); now != leaderID {
				// The relay goroutine finishes on its own and drops the
				// answer; the write may or may not have committed.
				c.Response.Header.Set("Retry-After", "1")
				return errUnavailable
			}
		}
	}
}

// diskAllows refuses a client write while the leader's disk is nearly
// full. Deletes and cluster membership changes still pass: they are small,
// and deletes are how an operator frees space.
func (s *Server) diskAllows(c *fasthttp.RequestCtx) error {
	if s.cfg.Disk.AllowWrite() == nil || c.IsDelete() || bytes.HasPrefix(c.Path(), clusterPathPrefix) {
		return nil
	}
	return storage.ErrDiskLow
}

var clusterPathPrefix = []byte("/api/v1/cluster/")

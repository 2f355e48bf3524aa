package server

import (
	"net/http"
	"time"

	"github.com/valyala/fasthttp"
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
// on the leader.
func (s *Server) write(h handler) fasthttp.RequestHandler {
	return s.authed(func(c *fasthttp.RequestCtx, p principal) error {
		if err := p.canWrite(); err != nil {
			return err
		}
		if s.node.IsLeader() {
			return h(c, p)
		}
		return s.forward(c)
	})
}

// forward relays the request to the leader, or redirects to it.
func (s *Server) forward(c *fasthttp.RequestCtx) error {
	if len(c.Request.Header.Peek(forwardedHeader)) > 0 {
		return errNotLeader
	}
	leader := s.node.LeaderHTTPAddr()
	if leader == "" {
		c.Response.Header.Set("Retry-After", "1")
		return errNotLeader
	}
	if string(c.QueryArgs().Peek("redirect")) == "true" {
		c.Response.Header.Set("Location", "http://"+leader+string(c.RequestURI()))
		c.SetStatusCode(http.StatusTemporaryRedirect)
		return nil
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	c.Request.Header.CopyTo(&req.Header)
	req.SetBody(c.PostBody())
	req.SetRequestURI("http://" + leader + string(c.RequestURI()))
	req.Header.Set(forwardedHeader, s.node.ID())
	if err := s.forwarder.DoTimeout(req, resp, forwardTimeout); err != nil {
		s.log.Warn().Err(err).Str("leader", leader).Msg("forward to leader failed")
		c.Response.Header.Set("Retry-After", "1")
		return errUnavailable
	}
	c.SetStatusCode(resp.StatusCode())
	for _, h := range relayHeaders {
		if v := resp.Header.Peek(h); len(v) > 0 {
			c.Response.Header.SetBytesV(h, v)
		}
	}
	c.SetBody(resp.Body())
	return nil
}

package server

import (
	"crypto/sha256"
	"net/http"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// Writes go through Raft. A handler validates, builds the entity with the
// leader's time, renders its success response, and calls commit with a
// command carrying both; the FSM stores that response under the request's
// idempotency key, so a repeat of the key gets the same answer on any node.

// idempotencyHash scopes an Idempotency-Key to the principal and the route,
// so one client's key cannot replay another's response.
func idempotencyHash(c *fasthttp.RequestCtx, p principal) []byte {
	key := strings.TrimSpace(string(c.Request.Header.Peek("Idempotency-Key")))
	if key == "" || !c.IsPost() {
		return nil
	}
	h := sha256.New()
	h.Write([]byte(p.id))
	h.Write([]byte{0})
	h.Write(c.Method())
	h.Write([]byte{' '})
	h.Write(c.Path())
	h.Write([]byte{0})
	h.Write([]byte(key))
	return h.Sum(nil)
}

// replayed answers a stored response for the request's idempotency key, if
// there is one, and reports whether it did.
func (s *Server) replayed(c *fasthttp.RequestCtx, p principal) bool {
	hash := idempotencyHash(c, p)
	if hash == nil {
		return false
	}
	var (
		resp storage.IdempotentResponse
		ok   bool
	)
	_ = s.store.View(func(r *storage.Reader) error { resp, ok = r.Idempotent(hash); return nil })
	if !ok || s.now().Sub(time.Unix(0, resp.CreatedAt)) >= s.cfg.IdempotencyTTL {
		return false
	}
	writeReplay(c, &resp)
	return true
}

func writeReplay(c *fasthttp.RequestCtx, resp *storage.IdempotentResponse) {
	c.Response.Header.Set("Idempotent-Replayed", "true")
	writeRaw(c, int(resp.Status), resp.Body)
}

// meta stamps a command with the time and, when the request has an
// idempotency key, the response to keep for it.
func (s *Server) meta(c *fasthttp.RequestCtx, p principal, now time.Time, status int, body []byte) raft.Meta {
	m := raft.Meta{Time: now.UnixNano()}
	if hash := idempotencyHash(c, p); hash != nil {
		m.Idem = &raft.Idem{
			Hash: hash, Status: uint16(status), Body: body,
			ExpiresMs: now.Add(s.cfg.IdempotencyTTL).UnixMilli(),
		}
	}
	return m
}

// commit applies cmd and answers: the stored response when the key was a
// repeat, the error when the FSM refused, the rendered response otherwise.
func (s *Server) commit(c *fasthttp.RequestCtx, cmd raft.Command, status int, body []byte) error {
	if s.closing.Load() {
		return errShuttingDown
	}
	resp, err := s.node.Apply(cmd)
	if err != nil {
		return err
	}
	res, _ := resp.(raft.Result)
	return s.answer(c, res, status, body)
}

func (s *Server) answer(c *fasthttp.RequestCtx, res raft.Result, status int, body []byte) error {
	if res.Replay != nil {
		writeReplay(c, res.Replay)
		return nil
	}
	if res.Err != nil {
		return res.Err
	}
	writeRaw(c, status, body)
	return nil
}

// noContent is the body of 204 answers.
var noContent = []byte{}

const statusNoContent = http.StatusNoContent

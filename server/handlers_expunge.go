package server

import (
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// expungeContent drops a message's payload now, on every node (Svix's
// DELETE .../msg/{msg_id}/content). The message stays listed, its payload
// read as {} from then on.
func (s *Server) expungeContent(c *fasthttp.RequestCtx, p principal) error {
	a, m, err := s.loadMessage(c, p)
	if err != nil {
		return err
	}
	cmd := &raft.ExpungeContent{Meta: raft.Meta{Time: s.now().UnixNano()}, AppID: a.ID, MsgID: m.ID}
	return s.commit(c, cmd, statusNoContent, noContent)
}

// expungeAttemptContent drops the response body stored for one attempt
// (Svix's DELETE .../msg/{msg_id}/attempt/{attempt_id}/content).
func (s *Server) expungeAttemptContent(c *fasthttp.RequestCtx, p principal) error {
	a, m, err := s.loadMessage(c, p)
	if err != nil {
		return err
	}
	cmd := &raft.ExpungeContent{Meta: raft.Meta{Time: s.now().UnixNano()}, AppID: a.ID, MsgID: m.ID,
		AttemptID: pathParam(c, "attempt_id")}
	if err := s.commit(c, cmd, statusNoContent, noContent); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return notFound("Attempt")
		}
		return err
	}
	return nil
}

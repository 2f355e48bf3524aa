package server

import (
	"errors"
	"net/http"

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

// expungeAllContents drops the payload of every message of the
// application (Svix's POST .../msg/expunge-all-contents): a background
// task, one Raft entry per message, over the messages that exist when it
// starts.
func (s *Server) expungeAllContents(c *fasthttp.RequestCtx, p principal) error {
	a, err := s.loadApp(p, pathParam(c, "app_id"))
	if err != nil {
		return err
	}
	t, err := s.startTask(taskPurgeContent, a.ID, "", func() (any, error) {
		n := 0
		opts := storage.ListOptions{Limit: 250}
		for {
			var page storage.Page[storage.Message]
			err := s.store.View(func(r *storage.Reader) error {
				var err error
				page, err = r.ListMessages(a.ID, storage.MessageFilter{}, opts)
				return err
			})
			if err != nil {
				return map[string]any{"messagesPurged": n}, err
			}
			for _, m := range page.Items {
				if s.closing.Load() {
					return map[string]any{"messagesPurged": n}, errShuttingDown
				}
				resp, err := s.node.Apply(&raft.ExpungeContent{Meta: raft.Meta{Time: s.now().UnixNano()}, AppID: a.ID, MsgID: m.ID})
				if err != nil {
					return map[string]any{"messagesPurged": n}, err
				}
				if res, _ := resp.(raft.Result); res.Err == nil {
					n++
				}
			}
			if page.Done || page.Iterator == "" {
				return map[string]any{"messagesPurged": n}, nil
			}
			opts.Iterator = page.Iterator
		}
	})
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusAccepted, toTaskOut(&t))
	return nil
}

package server

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// Background tasks: recover, replay-missing, content expunge and the
// usage statistics answer 202 with a task at once and do their work on the
// leader, a Raft entry at a time; the task record, replicated, says how it
// went. A task whose leader stopped or lost leadership mid-way is marked
// failed by the next leader (failOrphanedTasks): asking again is safe,
// every task here is idempotent.

// Svix's task types that Herald runs.
const (
	taskRecover      = "endpoint.recover"
	taskReplay       = "endpoint.replay"
	taskAppStats     = "application.stats"
	taskEventTypes   = "event-type.aggregate"
	taskPurgeContent = "application.purge_content"
)

// taskOut is Svix's RecoverOut, ReplayOut and AppUsageStatsOut core.
type taskOut struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	Task      string    `json:"task"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// backgroundTaskOut is Svix's BackgroundTaskOut.
type backgroundTaskOut struct {
	taskOut
	Data json.RawMessage `json:"data"`
}

func toTaskOut(t *storage.Task) taskOut {
	return taskOut{ID: t.ID, Status: t.Status.String(), Task: t.Kind, UpdatedAt: ts(t.UpdatedAt)}
}

func toBackgroundTaskOut(t *storage.Task) backgroundTaskOut {
	data := json.RawMessage(t.Data)
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	return backgroundTaskOut{taskOut: toTaskOut(t), Data: data}
}

// startTask records a running task and runs work in the background; work
// returns the task's result data (a JSON object) or an error, which ends
// the task failed with the error in its data. The task is recorded before
// the caller answers, so the id it returns can be read at once.
func (s *Server) startTask(kind, appID, epID string, work func() (any, error)) (storage.Task, error) {
	now := s.now().UnixNano()
	t := storage.Task{ID: storage.NewID(storage.PrefixTask, s.now()), Kind: kind, AppID: appID, EndpointID: epID,
		Data: []byte("{}"), CreatedAt: now, UpdatedAt: now}
	s.taskMu.Lock()
	if s.closing.Load() {
		s.taskMu.Unlock()
		return t, errShuttingDown
	}
	s.tasks.Add(1)
	if s.ownTasks == nil {
		s.ownTasks = map[string]bool{}
	}
	s.ownTasks[t.ID] = true
	s.taskMu.Unlock()
	done := func() {
		s.taskMu.Lock()
		delete(s.ownTasks, t.ID)
		s.taskMu.Unlock()
		s.tasks.Done()
	}
	if _, err := s.node.Apply(&raft.PutTask{Task: t}); err != nil {
		done()
		return t, err
	}
	go func() {
		defer done()
		log := s.log.With().Str("component", "api").Str("task_id", t.ID).Str("task", kind).Logger()
		data, err := work()
		end := t
		end.Status, end.UpdatedAt = storage.TaskFinished, s.now().UnixNano()
		if err != nil {
			end.Status = storage.TaskFailed
			log.Warn().Err(err).Msg("background task failed")
			if data == nil {
				data = map[string]any{}
			}
			if m, ok := data.(map[string]any); ok {
				m["error"] = err.Error()
			}
		}
		if end.Data, err = json.Marshal(data); err != nil {
			end.Data = []byte("{}")
		}
		if _, err := s.node.Apply(&raft.PutTask{Task: end}); err != nil {
			log.Warn().Err(err).Msg("background task end not recorded")
			return
		}
		log.Info().Str("status", end.Status.String()).Msg("background task ended")
	}()
	return t, nil
}

// goTask runs fn in the background unless the server is shutting down;
// Shutdown waits for it.
func (s *Server) goTask(fn func()) {
	s.taskMu.Lock()
	defer s.taskMu.Unlock()
	if s.closing.Load() {
		return
	}
	s.tasks.Add(1)
	go func() {
		defer s.tasks.Done()
		fn()
	}()
}

// failOrphanedTasks marks failed the tasks recorded as running that this
// node does not run: their leader stopped or lost leadership before it
// could record their end, and no node will finish them. Every task here is
// safe to ask for again.
func (s *Server) failOrphanedTasks() {
	running := storage.TaskRunning
	var orphans []storage.Task
	opts := storage.ListOptions{Limit: 250}
	for {
		var page storage.Page[storage.Task]
		err := s.store.View(func(r *storage.Reader) error {
			var err error
			page, err = r.ListTasks(opts, storage.TaskFilter{Status: &running})
			return err
		})
		if err != nil {
			s.log.Warn().Err(err).Msg("orphaned tasks not checked")
			return
		}
		s.taskMu.Lock()
		for _, t := range page.Items {
			if !s.ownTasks[t.ID] {
				orphans = append(orphans, t)
			}
		}
		s.taskMu.Unlock()
		if page.Done || page.Iterator == "" {
			break
		}
		opts.Iterator = page.Iterator
	}
	for _, t := range orphans {
		if s.closing.Load() {
			return
		}
		t.Status, t.UpdatedAt = storage.TaskFailed, s.now().UnixNano()
		t.Data = []byte(`{"error":"the node running this task stopped leading before it finished; ask again"}`)
		if _, err := s.node.Apply(&raft.PutTask{Task: t}); err != nil {
			s.log.Warn().Err(err).Str("task_id", t.ID).Msg("orphaned task not marked failed")
			return
		}
		s.log.Info().Str("task_id", t.ID).Str("task", t.Kind).Msg("orphaned background task marked failed")
	}
}

// chunked applies a range operation (Recover, ReplayMissing) a Raft entry
// at a time until its cursor comes back empty, and returns how many
// deliveries it queued.
func (s *Server) chunked(step func(after string) raft.Command) (int, error) {
	total, cursor := 0, ""
	for {
		if s.closing.Load() {
			return total, errShuttingDown
		}
		resp, err := s.node.Apply(step(cursor))
		if err != nil {
			return total, err
		}
		res, _ := resp.(raft.Result)
		total += res.Count
		if cursor = res.Cursor; cursor == "" {
			return total, nil
		}
	}
}

func (s *Server) getBackgroundTask(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	var t storage.Task
	err := s.store.View(func(r *storage.Reader) error {
		var err error
		t, err = r.Task(pathParam(c, "task_id"))
		return err
	})
	if err == storage.ErrNotFound {
		return notFound("Background task")
	}
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, toBackgroundTaskOut(&t))
	return nil
}

func (s *Server) listBackgroundTasks(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	opts, err := listOptions(c, true)
	if err != nil {
		return err
	}
	var f storage.TaskFilter
	var v violations
	switch st := query(c, "status"); st {
	case "":
	case "running", "finished", "failed":
		status := map[string]storage.TaskStatus{"running": storage.TaskRunning, "finished": storage.TaskFinished, "failed": storage.TaskFailed}[st]
		f.Status = &status
	default:
		v.addQuery("must be running, finished or failed", "status")
	}
	f.Kind = query(c, "task")
	if err := v.err(); err != nil {
		return err
	}
	var page storage.Page[storage.Task]
	err = s.store.View(func(r *storage.Reader) error {
		page, err = r.ListTasks(opts, f)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newList(page, toBackgroundTaskOut))
	return nil
}

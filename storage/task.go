package storage

// Background tasks: the long operations Svix runs asynchronously (recover,
// replay, usage statistics) answer at once with a task id; the task record
// says how the work went. Records are replicated, so any node answers
// GET /background-task/{id}; each expires TaskRetention after it was last
// updated (Svix lists 90 days).

// TaskStatus is where a background task stands.
type TaskStatus byte

// Task statuses, in Svix's words.
const (
	TaskRunning  TaskStatus = 0
	TaskFinished TaskStatus = 1
	TaskFailed   TaskStatus = 2
)

// String returns Svix's name of the status.
func (s TaskStatus) String() string {
	switch s {
	case TaskFinished:
		return "finished"
	case TaskFailed:
		return "failed"
	}
	return "running"
}

// PrefixTask is the id prefix of background tasks, as in Svix.
const PrefixTask = "qtask_"

// TaskRetentionMs is how long a task record is kept after its last update.
const TaskRetentionMs = 90 * 24 * 3600 * 1000

// Task is one background task.
type Task struct {
	ID         string
	Kind       string // Svix's task type, e.g. "endpoint.recover"
	Status     TaskStatus
	AppID      string // "" for environment-wide tasks
	EndpointID string
	Data       []byte // a JSON object: the task's result or progress
	CreatedAt  int64  // unix nanoseconds
	UpdatedAt  int64
}

// Encode appends t's encoding.
func (t *Task) Encode(e *Encoder) {
	e.Byte(recordV1)
	e.String(t.ID)
	e.String(t.Kind)
	e.Byte(byte(t.Status))
	e.String(t.AppID)
	e.String(t.EndpointID)
	e.Bytes(t.Data)
	e.Varint(t.CreatedAt)
	e.Varint(t.UpdatedAt)
}

// Decode reads what Encode wrote.
func (t *Task) Decode(d *Decoder) {
	checkVersion(d)
	t.ID = d.String()
	t.Kind = d.String()
	t.Status = TaskStatus(d.Byte())
	t.AppID = d.String()
	t.EndpointID = d.String()
	t.Data = cloneBytes(d.Bytes())
	t.CreatedAt = d.Varint()
	t.UpdatedAt = d.Varint()
}

func taskKey(id string) []byte { return key(pTask + id) }

// PutTask writes a task record, to expire TaskRetentionMs after its update.
// A record already finished or failed is not set back to running: a late
// progress write cannot undo the end of a task.
func (tx *Tx) PutTask(t Task) {
	k := taskKey(t.ID)
	var old Task
	if t.Status == TaskRunning && tx.get(k, func(v []byte) error { return decodeInto(v, old.Decode) }) == nil && old.Status != TaskRunning {
		return
	}
	tx.setExpiring(k, encode(t.Encode), t.UpdatedAt/1e6+TaskRetentionMs)
}

// Task returns a background task by id.
func (r *Reader) Task(id string) (Task, error) {
	var t Task
	err := r.get(taskKey(id), func(v []byte) error { return decodeInto(v, t.Decode) })
	return t, err
}

// TaskFilter narrows a task list; zero values match everything.
type TaskFilter struct {
	Kind   string
	Status *TaskStatus
}

// ListTasks returns a page of background tasks in id (creation) order.
func (r *Reader) ListTasks(opts ListOptions, f TaskFilter) (Page[Task], error) {
	return listPage(r, []byte(pTask), PrefixTask, opts, func(_ string, v []byte) (Task, bool, error) {
		var t Task
		if err := decodeInto(v, t.Decode); err != nil {
			return t, false, err
		}
		ok := (f.Kind == "" || t.Kind == f.Kind) && (f.Status == nil || t.Status == *f.Status)
		return t, ok, nil
	})
}

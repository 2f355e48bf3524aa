package appliance_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"
	"github.com/svix/svix-webhooks/go/models"

	"github.com/herald-webhooks/herald/config"
	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// waitTask polls a background task until it is no longer running.
func waitTask(t *testing.T, n *testNode, id string) *models.BackgroundTaskOut {
	t.Helper()
	var task *models.BackgroundTaskOut
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		var err error
		if task, err = n.sdk.BackgroundTask.Get(ctx(t), id); err != nil {
			return err
		}
		if task.Status == models.BACKGROUNDTASKSTATUS_RUNNING {
			return fmt.Errorf("task %s still running", id)
		}
		return nil
	})
	return task
}

// TestReplayMissing: an endpoint created after some messages, or that
// subscribed late, gets the messages it never got, once; messages it got
// are not sent again.
func TestReplayMissing(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	rc := newReceiver(t)
	start := time.Now().Add(-time.Second)
	f := newDeliveryFixture(t, n, rc, models.EndpointIn{FilterTypes: []string{"job.completed"}})
	got := f.send(t, "job.completed", map[string]any{"n": 1})
	missed := f.send(t, "job.failed", map[string]any{"n": 2}) // filtered out at the time
	f.waitFinal(t, got.Id)
	rc.waitFor(t, 1)

	r := n.do(http.MethodPatch, "/api/v1/app/"+f.app.Id+"/endpoint/"+f.ep.Id, `{"filterTypes":null}`)
	if r.status != http.StatusOK {
		t.Fatalf("clear filter: %d %s", r.status, r.body)
	}
	out, err := n.sdk.Endpoint.ReplayMissing(ctx(t), f.app.Id, f.ep.Id, models.ReplayIn{Since: start}, nil)
	if err != nil {
		t.Fatalf("ReplayMissing: %v", err)
	}
	if out.Task != models.BACKGROUNDTASKTYPE_ENDPOINT_REPLAY || out.UpdatedAt.IsZero() {
		t.Errorf("ReplayMissing = %+v", out)
	}
	task := waitTask(t, n, out.Id)
	if task.Status != models.BACKGROUNDTASKSTATUS_FINISHED || task.Data["queued"] != float64(1) {
		t.Errorf("task %+v, want finished with 1 queued", task)
	}
	whs := rc.waitFor(t, 2)
	if id := whs[1].Header.Get("webhook-id"); id != missed.Id {
		t.Errorf("replayed %s, want %s", id, missed.Id)
	}
	// A second replay finds nothing missing.
	out, err = n.sdk.Endpoint.ReplayMissing(ctx(t), f.app.Id, f.ep.Id, models.ReplayIn{Since: start}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if task := waitTask(t, n, out.Id); task.Data["queued"] != float64(0) {
		t.Errorf("second replay queued %v", task.Data["queued"])
	}
	if r := n.do(http.MethodPost, "/api/v1/app/"+f.app.Id+"/endpoint/"+f.ep.Id+"/replay-missing", `{}`); r.status != http.StatusUnprocessableEntity {
		t.Errorf("replay without since: %d %s", r.status, r.body)
	}

	// Tasks list newest first and filter by type and status.
	list, err := n.sdk.BackgroundTask.List(ctx(t), &svix.BackgroundTaskListOptions{Task: ptr(models.BACKGROUNDTASKTYPE_ENDPOINT_REPLAY)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Data) != 2 || list.Data[0].Id != out.Id {
		t.Errorf("listed %+v", list.Data)
	}
	running := models.BACKGROUNDTASKSTATUS_RUNNING
	list, err = n.sdk.BackgroundTask.List(ctx(t), &svix.BackgroundTaskListOptions{Status: &running})
	if err != nil || len(list.Data) != 0 {
		t.Errorf("running tasks: %+v, %v", list, err)
	}
	if r := n.do(http.MethodGet, "/api/v1/background-task/qtask_nope", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown task: %d", r.status)
	}
}

// TestUsageStats: Svix's usage statistics count each app's message
// destinations in a window and list what its endpoints subscribe to.
func TestUsageStats(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	rc := newReceiver(t)
	start := time.Now().Add(-time.Second)
	f := newDeliveryFixture(t, n, rc, models.EndpointIn{FilterTypes: []string{"job.completed", "job.failed"}})
	if _, err := n.sdk.Endpoint.Create(ctx(t), f.app.Id, models.EndpointIn{Url: rc.URL("/all")}, nil); err != nil {
		t.Fatal(err)
	}
	f.send(t, "job.completed", map[string]any{"n": 1}) // two destinations
	f.send(t, "job.started", map[string]any{"n": 2})   // one: the catch-all
	out, err := n.sdk.Statistics.AggregateAppStats(ctx(t), models.AppUsageStatsIn{
		AppIds: []string{f.app.Id, "app_missing"}, Since: start, Until: time.Now().Add(time.Second),
	}, nil)
	if err != nil {
		t.Fatalf("AggregateAppStats: %v", err)
	}
	if len(out.UnresolvedAppIds) != 1 || out.UnresolvedAppIds[0] != "app_missing" {
		t.Errorf("unresolved %v", out.UnresolvedAppIds)
	}
	task := waitTask(t, n, out.Id)
	stats, _ := task.Data["appStats"].([]any)
	if len(stats) != 1 || stats[0].(map[string]any)["messageDestinations"] != float64(3) {
		t.Errorf("app stats %v, want 3 destinations", task.Data)
	}
	agg, err := n.sdk.Statistics.AggregateEventTypes(ctx(t))
	if err != nil {
		t.Fatalf("AggregateEventTypes: %v", err)
	}
	task = waitTask(t, n, agg.Id)
	usage, _ := task.Data["event_types"].([]any)
	if len(usage) != 1 {
		t.Fatalf("event types %v", task.Data)
	}
	u := usage[0].(map[string]any)
	if u["hasCatchAllEndpoint"] != true || fmt.Sprint(u["explicitlySubscribedEventTypes"]) != "[job.completed job.failed]" {
		t.Errorf("event type usage %v", u)
	}
	for _, body := range []string{`{"since":"2026-01-02T00:00:00Z","until":"2026-01-01T00:00:00Z"}`,
		`{"since":"2000-01-01T00:00:00Z","until":"2026-01-01T00:00:00Z"}`, `{"since":"2026-01-01T00:00:00Z","until":"9999-01-01T00:00:00Z"}`} {
		if r := n.do(http.MethodPost, "/api/v1/stats/usage/app", body); r.status != http.StatusUnprocessableEntity {
			t.Errorf("stats %s: %d %s, want 422", body, r.status, r.body)
		}
	}
}

// TestExpungeAllContents: every payload of the application reads as {}
// once the task finishes; the messages stay listed.
func TestExpungeAllContents(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	rc := newReceiver(t)
	f := newDeliveryFixture(t, n, rc, models.EndpointIn{})
	var ids []string
	for i := range 3 {
		ids = append(ids, f.send(t, "job.completed", map[string]any{"secret": i}).Id)
	}
	out, err := n.sdk.Message.ExpungeAllContents(ctx(t), f.app.Id, nil)
	if err != nil {
		t.Fatalf("ExpungeAllContents: %v", err)
	}
	if task := waitTask(t, n, out.Id); task.Status != models.BACKGROUNDTASKSTATUS_FINISHED || task.Data["messagesPurged"] != float64(3) {
		t.Errorf("task %+v, want finished with 3 expunged", task)
	}
	for _, id := range ids {
		m, err := n.sdk.Message.Get(ctx(t), f.app.Id, id, nil)
		if err != nil || len(m.Payload) != 0 {
			t.Errorf("message %s after expunge: %+v, %v", id, m, err)
		}
	}
}

// TestOrphanedTaskFailsOnNewLeader: a task left "running" by a leader that
// stopped mid-way is marked failed by the next leader, so clients polling
// it get an answer instead of waiting for ever.
func TestOrphanedTaskFailsOnNewLeader(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keep := func(c *config.Config) { c.DataDir = dir }
	n := startNode(t, keep)
	now := time.Now().UnixNano()
	orphan := storage.Task{ID: storage.NewID(storage.PrefixTask, time.Now()), Kind: "endpoint.recover", Status: storage.TaskRunning,
		Data: []byte("{}"), CreatedAt: now, UpdatedAt: now}
	if _, err := n.Node().Apply(&raft.PutTask{Task: orphan}); err != nil {
		t.Fatal(err)
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	n2 := startNode(t, keep)
	task := waitTask(t, n2, orphan.ID)
	if task.Status != models.BACKGROUNDTASKSTATUS_FAILED || task.Data["error"] == nil {
		t.Errorf("orphaned task after a new leader: %+v, want failed with an error", task)
	}
}

package appliance_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"
	"github.com/svix/svix-webhooks/go/models"

	"github.com/herald-webhooks/herald/storage"
)

func TestMessagesWithSDK(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	sdk := n.sdk
	app, err := sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "Messages", Uid: ptr("msgs")}, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Raw HTTP shows the status the SDK hides: 202 Accepted.
	raw := n.do(http.MethodPost, "/api/v1/app/"+app.Id+"/msg", map[string]any{
		"eventType": "user.created", "eventId": "evt-1", "channels": []string{"project.1"}, "tags": []string{"t1"},
		"payload": map[string]any{"id": "u1", "n": 1},
	})
	if raw.status != http.StatusAccepted {
		t.Fatalf("create message: status %d, want 202: %s", raw.status, raw.body)
	}
	if ct := raw.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content-type %q", ct)
	}
	var first models.MessageOut
	raw.json(t, &first)
	if !strings.HasPrefix(first.Id, "msg_") || first.EventType != "user.created" || first.EventId == nil || *first.EventId != "evt-1" ||
		!slices.Equal(first.Channels, []string{"project.1"}) || !slices.Equal(first.Tags, []string{"t1"}) ||
		first.Payload["id"] != "u1" || first.Payload["n"] != float64(1) {
		t.Errorf("MessageOut = %+v", first)
	}
	if d := time.Since(first.Timestamp); d < 0 || d > 10*time.Second {
		t.Errorf("timestamp %v is not now", first.Timestamp)
	}

	// The SDK's Create (with_content=false on the wire, payload filled in
	// by the SDK).
	second, err := sdk.Message.Create(ctx(t), "msgs", models.MessageIn{
		EventType: "user.deleted", Payload: map[string]any{"id": "u2"},
	}, nil)
	if err != nil {
		t.Fatalf("SDK Create: %v", err)
	}
	if !strings.HasPrefix(second.Id, "msg_") || second.EventType != "user.deleted" || second.EventId != nil || second.Payload["id"] != "u2" {
		t.Errorf("SDK Create = %+v", second)
	}

	// Get by id and by eventId; with_content=false leaves the payload out.
	for _, ref := range []string{first.Id, "evt-1"} {
		got, err := sdk.Message.Get(ctx(t), app.Id, ref, nil)
		if err != nil {
			t.Fatalf("Get(%s): %v", ref, err)
		}
		if got.Id != first.Id || got.Payload["id"] != "u1" || !got.Timestamp.Equal(first.Timestamp) {
			t.Errorf("Get(%s) = %+v", ref, got)
		}
	}
	bare, err := sdk.Message.Get(ctx(t), app.Id, first.Id, &svix.MessageGetOptions{WithContent: ptr(false)})
	if err != nil {
		t.Fatal(err)
	}
	if len(bare.Payload) != 0 {
		t.Errorf("with_content=false payload = %v", bare.Payload)
	}
	if _, err := sdk.Message.Get(ctx(t), app.Id, "msg_2ZZZZZZZZZZZZZZZZZZZZZZZZZZ", nil); err == nil || sdkStatus(t, err) != http.StatusNotFound {
		t.Errorf("Get unknown: %v, want 404", err)
	}

	// A repeated eventId is a conflict and creates nothing.
	countBefore := n.counts().Messages
	if _, err := sdk.Message.Create(ctx(t), app.Id, models.MessageIn{
		EventType: "user.created", EventId: ptr("evt-1"), Payload: map[string]any{"dup": true},
	}, nil); err == nil {
		t.Error("duplicate eventId accepted")
	} else if st := sdkStatus(t, err); st != http.StatusConflict {
		t.Errorf("duplicate eventId: status %d, want 409", st)
	}
	if c := n.counts().Messages; c != countBefore {
		t.Errorf("duplicate eventId stored a message: %d -> %d", countBefore, c)
	}

	// Idempotency-Key: the same key twice answers the identical body and
	// stores one message.
	body := map[string]any{"eventType": "user.created", "payload": map[string]any{"id": "idem"}}
	r1 := n.do(http.MethodPost, "/api/v1/app/"+app.Id+"/msg", body, "Idempotency-Key", "key-123")
	r2 := n.do(http.MethodPost, "/api/v1/app/"+app.Id+"/msg", body, "Idempotency-Key", "key-123")
	if r1.status != http.StatusAccepted || r2.status != http.StatusAccepted {
		t.Fatalf("idempotent creates: %d, %d", r1.status, r2.status)
	}
	if !bytes.Equal(r1.body, r2.body) {
		t.Errorf("idempotent replay differs:\n%s\n%s", r1.body, r2.body)
	}
	sdkKey := "sdk-key-1"
	s1, err := sdk.Message.Create(ctx(t), app.Id, models.MessageIn{EventType: "user.created", Payload: map[string]any{"id": "sdk-idem"}},
		&svix.MessageCreateOptions{IdempotencyKey: &sdkKey})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := sdk.Message.Create(ctx(t), app.Id, models.MessageIn{EventType: "user.created", Payload: map[string]any{"id": "sdk-idem"}},
		&svix.MessageCreateOptions{IdempotencyKey: &sdkKey})
	if err != nil {
		t.Fatal(err)
	}
	if s1.Id != s2.Id {
		t.Errorf("SDK idempotent creates made two messages: %s, %s", s1.Id, s2.Id)
	}
	all, err := sdk.Message.List(ctx(t), app.Id, &svix.MessageListOptions{Limit: ptr(uint64(100))})
	if err != nil {
		t.Fatal(err)
	}
	var idem, sdkIdem int
	for _, m := range all.Data {
		switch m.Payload["id"] {
		case "idem":
			idem++
		case "sdk-idem":
			sdkIdem++
		}
	}
	if idem != 1 || sdkIdem != 1 {
		t.Errorf("idempotent creates stored %d and %d messages, want 1 each", idem, sdkIdem)
	}
	if len(all.Data) != 4 {
		t.Errorf("List holds %d messages, want 4", len(all.Data))
	}
}

func TestMessageListFilters(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	sdk := n.sdk
	app, err := sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "Lists"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	create := func(eventType string, channels ...string) *models.MessageOut {
		t.Helper()
		m, err := sdk.Message.Create(ctx(t), app.Id, models.MessageIn{
			EventType: eventType, Channels: channels, Payload: map[string]any{"type": eventType},
		}, nil)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		return m
	}

	// Message A in one second, the rest in a later one, so before/after
	// (whole seconds on the wire) can tell them apart.
	a := create("a.one", "ch1")
	aSecond := a.Timestamp.Truncate(time.Second)
	checkFor(t, 3*time.Second, 10*time.Millisecond, func() error {
		if !time.Now().Truncate(time.Second).After(aSecond) {
			return errors.New("still in message A's second")
		}
		return nil
	})
	var later []*models.MessageOut
	for i := range 6 {
		et := "b.two"
		if i%2 == 0 {
			et = "c.three"
		}
		later = append(later, create(et, fmt.Sprintf("ch%d", i%3)))
	}
	newestFirst := []string{}
	for i := len(later) - 1; i >= 0; i-- {
		newestFirst = append(newestFirst, later[i].Id)
	}
	newestFirst = append(newestFirst, a.Id)

	msgIDs := func(l *models.ListResponseMessageOut) []string {
		return ids(l.Data, func(m models.MessageOut) string { return m.Id })
	}

	// Pages of 3, newest first, with the iterator, until done.
	var got []string
	var iter *string
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		page, err := sdk.Message.List(ctx(t), app.Id, &svix.MessageListOptions{Limit: ptr(uint64(3)), Iterator: iter})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) > 3 {
			t.Fatalf("page of %d, limit 3", len(page.Data))
		}
		got = append(got, msgIDs(page)...)
		if page.Done {
			break
		}
		iter = page.Iterator
	}
	if !slices.Equal(got, newestFirst) {
		t.Errorf("paged list:\n got %v\nwant %v", got, newestFirst)
	}

	// event_types (several), channel.
	l, err := sdk.Message.List(ctx(t), app.Id, &svix.MessageListOptions{EventTypes: &[]string{"a.one", "b.two"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range l.Data {
		if m.EventType != "a.one" && m.EventType != "b.two" {
			t.Errorf("event_types filter let %s through", m.EventType)
		}
	}
	if len(l.Data) != 4 {
		t.Errorf("event_types=a.one,b.two: %d messages, want 4", len(l.Data))
	}
	l, err = sdk.Message.List(ctx(t), app.Id, &svix.MessageListOptions{Channel: ptr("ch1")})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range l.Data {
		if !slices.Contains(m.Channels, "ch1") {
			t.Errorf("channel filter let %v through", m.Channels)
		}
	}
	if len(l.Data) != 3 { // A, later[1], later[4]
		t.Errorf("channel=ch1: %d messages, want 3", len(l.Data))
	}

	// before/after: A is alone in the earlier second.
	bSecond := later[0].Timestamp.Truncate(time.Second)
	l, err = sdk.Message.List(ctx(t), app.Id, &svix.MessageListOptions{Before: &bSecond})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(msgIDs(l), []string{a.Id}) {
		t.Errorf("before=%v: %v, want only A", bSecond, msgIDs(l))
	}
	l, err = sdk.Message.List(ctx(t), app.Id, &svix.MessageListOptions{After: &aSecond})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(msgIDs(l), newestFirst[:6]) {
		t.Errorf("after=%v: %v, want all but A", aSecond, msgIDs(l))
	}

	// with_content=false in lists.
	l, err = sdk.Message.List(ctx(t), app.Id, &svix.MessageListOptions{WithContent: ptr(false), Limit: ptr(uint64(2))})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range l.Data {
		if len(m.Payload) != 0 {
			t.Errorf("with_content=false listed payload %v", m.Payload)
		}
	}
}

// TestMessageCommittedOn202 checks the ingest contract: once Create
// returns, the node's state already holds the message and its delivery.
func TestMessageCommittedOn202(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	rc := newReceiver(t)
	app, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "Commit"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := n.sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{Url: rc.URL("/")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		m, err := n.sdk.Message.Create(ctx(t), app.Id, models.MessageIn{
			EventType: "commit.check", Payload: map[string]any{"i": i},
		}, nil)
		if err != nil {
			t.Fatalf("Create %d: %v", i, err)
		}
		err = n.Store().View(func(r *storage.Reader) error {
			sm, err := r.Message(app.Id, m.Id)
			if err != nil {
				return fmt.Errorf("message: %w", err)
			}
			if sm.EventType != "commit.check" || !bytes.Contains(sm.Payload, []byte(fmt.Sprintf(`"i":%d`, i))) {
				return fmt.Errorf("stored message %+v", sm)
			}
			if _, err := r.Delivery(app.Id, m.Id, ep.Id); err != nil {
				return fmt.Errorf("delivery: %w", err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("message %d not in the state right after 202: %v", i, err)
		}
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	r := n.doToken("", http.MethodGet, "/api/v1/health", nil)
	if r.status < 200 || r.status > 299 {
		t.Errorf("health without a token: %d %s", r.status, r.body)
	}
	if err := n.sdk.Health.Get(ctx(t)); err != nil {
		t.Errorf("SDK Health.Get: %v", err)
	}
	// Any token works for health, even a wrong one.
	anon, err := svix.New("wrong-token", &svix.SvixOptions{ServerUrl: mustURL(t, n.url)})
	if err != nil {
		t.Fatal(err)
	}
	if err := anon.Health.Get(ctx(t)); err != nil {
		t.Errorf("Health.Get with a wrong token: %v", err)
	}
}

// TestMetrics: /metrics answers Prometheus text for the admin token only,
// with the counters moving as messages are accepted and delivered.
func TestMetrics(t *testing.T) {
	n := startNode(t)
	rc := newReceiver(t)
	app, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "metrics"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{Url: rc.URL("/hook")}, nil); err != nil {
		t.Fatal(err)
	}
	value := func(body, name string) float64 {
		for _, line := range strings.Split(body, "\n") {
			if rest, ok := strings.CutPrefix(line, name+" "); ok {
				v, _ := strconv.ParseFloat(rest, 64)
				return v
			}
		}
		t.Fatalf("metric %s missing from:\n%s", name, body)
		return 0
	}
	before := n.do("GET", "/metrics", nil)
	if before.status != 200 || !strings.HasPrefix(before.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics = %d %s", before.status, before.header.Get("Content-Type"))
	}
	accepted := value(string(before.body), "herald_messages_accepted_total")
	for range 3 {
		if _, err := n.sdk.Message.Create(ctx(t), app.Id, models.MessageIn{EventType: "a.b", Payload: map[string]any{}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	rc.waitFor(t, 3)
	checkFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		body := string(n.do("GET", "/metrics", nil).body)
		if got := value(body, "herald_messages_accepted_total"); got != accepted+3 {
			return fmt.Errorf("accepted %v, want %v", got, accepted+3)
		}
		if value(body, `herald_attempts_total{outcome="success"}`) < 3 || value(body, "herald_raft_is_leader") != 1 {
			return fmt.Errorf("attempt or leader gauges wrong:\n%s", body)
		}
		if value(body, `herald_disk_free_bytes{dir="state"}`) <= 0 || value(body, `herald_disk_total_bytes{dir="raft"}`) <= 0 ||
			value(body, "herald_disk_write_refusal") != 0 || value(body, "herald_raft_log_entries") <= 0 ||
			value(body, "herald_retention_oldest_message_age_seconds") < 0 {
			return fmt.Errorf("disk, log or retention gauges wrong:\n%s", body)
		}
		return nil
	})
	if r := n.doToken("", "GET", "/metrics", nil); r.status != 401 {
		t.Fatalf("/metrics without a token = %d", r.status)
	}
}

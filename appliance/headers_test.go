package appliance_test

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/svix/svix-webhooks/go/models"
)

// TestEndpointHeadersWithSDK drives Svix's endpoint headers routes with the
// SDK: credentials are never returned, PATCH merges and deletes by name
// (case-insensitively), PUT replaces, deliveries carry the result, and bad
// input is a 422 that changes nothing.
func TestEndpointHeadersWithSDK(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	sdk := n.sdk
	rc := newReceiver(t)
	app, err := sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "Headers"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{
		Url: rc.URL("/hook"), Headers: &map[string]string{"X-Team": "a", "Authorization": "Bearer s3cr3t"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	get := func() *models.EndpointHeadersOut {
		t.Helper()
		h, err := sdk.Endpoint.GetHeaders(ctx(t), app.Id, ep.Id)
		if err != nil {
			t.Fatalf("GetHeaders: %v", err)
		}
		return h
	}
	h := get()
	if !maps.Equal(h.Headers, map[string]string{"X-Team": "a"}) || !slices.Equal(h.Sensitive, []string{"Authorization"}) {
		t.Errorf("GetHeaders = %+v, want X-Team shown and Authorization listed as sensitive", h)
	}
	path := "/api/v1/app/" + app.Id + "/endpoint/" + ep.Id + "/headers"
	if r := n.do(http.MethodGet, path, nil); strings.Contains(string(r.body), "s3cr3t") {
		t.Errorf("a credential header's value was returned: %s", r.body)
	}

	err = sdk.Endpoint.PatchHeaders(ctx(t), app.Id, ep.Id, models.EndpointHeadersPatchIn{
		Headers: map[string]string{"x-team": "b", "X-New": "1"}, DeleteHeaders: []string{"authorization"},
	})
	if err != nil {
		t.Fatalf("PatchHeaders: %v", err)
	}
	if h := get(); !maps.Equal(h.Headers, map[string]string{"x-team": "b", "X-New": "1"}) || len(h.Sensitive) != 0 {
		t.Errorf("after PatchHeaders: %+v", h)
	}
	if err := sdk.Endpoint.UpdateHeaders(ctx(t), app.Id, ep.Id, models.EndpointHeadersIn{Headers: map[string]string{"X-Only": "1"}}); err != nil {
		t.Fatalf("UpdateHeaders: %v", err)
	}
	if h := get(); !maps.Equal(h.Headers, map[string]string{"X-Only": "1"}) {
		t.Errorf("after UpdateHeaders: %+v", h)
	}

	if _, err := sdk.Message.Create(ctx(t), app.Id, models.MessageIn{EventType: "job.done", Payload: map[string]any{"k": 1}}, nil); err != nil {
		t.Fatal(err)
	}
	wh := rc.waitFor(t, 1)[0]
	if wh.Header.Get("X-Only") != "1" || wh.Header.Get("X-Team") != "" || wh.Header.Get("Authorization") != "" {
		t.Errorf("delivery headers %v, want X-Only only", wh.Header)
	}

	// Bad input changes nothing (the attempt's outcome is awaited first).
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if c := n.counts().Attempts; c != 1 {
			return fmt.Errorf("%d attempts recorded, want 1", c)
		}
		return nil
	})
	idx := n.Store().AppliedIndex()
	for _, tc := range []struct{ method, body string }{
		{http.MethodPut, `{"headers":{"Host":"evil"}}`},
		{http.MethodPut, `{}`},
		{http.MethodPut, `{"headers":{"webhook-id":"x"}}`},
		{http.MethodPatch, `{"headers":{"X-A":"v\r\nX-B: w"}}`},
		{http.MethodPatch, `{"headers":{"Bad Name":"v"}}`},
		{http.MethodPatch, `{"deleteHeaders":"X-Only"}`},
	} {
		if r := n.do(tc.method, path, tc.body); r.status != http.StatusUnprocessableEntity {
			t.Errorf("%s %s: %d %s, want 422", tc.method, tc.body, r.status, r.body)
		}
	}
	if got := n.Store().AppliedIndex(); got != idx {
		t.Errorf("refused header changes moved the applied index %d -> %d", idx, got)
	}
	if h := get(); !maps.Equal(h.Headers, map[string]string{"X-Only": "1"}) {
		t.Errorf("after refused changes: %+v", h)
	}
}

// TestMessageCreatesApplication: MessageIn.application creates the app the
// path names when it does not exist (Svix), and is ignored when it does.
func TestMessageCreatesApplication(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	sdk := n.sdk
	in := models.MessageIn{
		EventType: "job.done", Payload: map[string]any{"k": 1},
		Application: &models.ApplicationIn{Name: "Made by a message", Uid: ptr("made-by-msg")},
	}
	msg, err := sdk.Message.Create(ctx(t), "made-by-msg", in, nil)
	if err != nil {
		t.Fatalf("Message.Create with application: %v", err)
	}
	app, err := sdk.Application.Get(ctx(t), "made-by-msg")
	if err != nil || app.Name != "Made by a message" {
		t.Fatalf("application after the message: %+v, %v", app, err)
	}
	if got, err := sdk.Message.Get(ctx(t), app.Id, msg.Id, nil); err != nil || got.Id != msg.Id {
		t.Fatalf("message under the new app: %+v, %v", got, err)
	}
	// Existing app: the application field is ignored.
	in.Application.Name = "Renamed?"
	if _, err := sdk.Message.Create(ctx(t), "made-by-msg", in, nil); err != nil {
		t.Fatal(err)
	}
	if app2, _ := sdk.Application.Get(ctx(t), app.Id); app2.Name != "Made by a message" || n.counts().Apps != 1 {
		t.Errorf("application changed or duplicated: %+v, %d apps", app2, n.counts().Apps)
	}
	// The uid must be the path's; without application, an unknown app is 404.
	before := n.counts()
	bad := in
	bad.Application = &models.ApplicationIn{Name: "x", Uid: ptr("other-uid")}
	if _, err := sdk.Message.Create(ctx(t), "unknown-uid", bad, nil); err == nil || sdkStatus(t, err) != http.StatusUnprocessableEntity {
		t.Errorf("application uid different from the path: %v, want 422", err)
	}
	bad.Application = nil
	if _, err := sdk.Message.Create(ctx(t), "unknown-uid", bad, nil); err == nil || sdkStatus(t, err) != http.StatusNotFound {
		t.Errorf("unknown app without application: %v, want 404", err)
	}
	if after := n.counts(); after != before {
		t.Errorf("refused messages changed the state: %+v -> %+v", before, after)
	}
}

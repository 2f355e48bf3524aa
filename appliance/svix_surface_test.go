package appliance_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/svix/svix-webhooks/go/models"
	"github.com/svix/svix-webhooks/go/utils"
)

// TestMessagePrecheck checks Svix's precheck/active: true only when an
// enabled endpoint would receive a message of that type and channels.
func TestMessagePrecheck(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	app, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "Precheck"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	active := func(eventType string, channels ...string) bool {
		t.Helper()
		out, err := n.sdk.Message.Precheck(ctx(t), app.Id, models.MessagePrecheckIn{EventType: eventType, Channels: channels}, nil)
		if err != nil {
			t.Fatalf("Precheck(%s, %v): %v", eventType, channels, err)
		}
		return out.Active
	}
	if active("job.completed") {
		t.Error("active with no endpoint")
	}
	if _, err := n.sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{
		Url: "https://example.com/done", FilterTypes: []string{"job.completed"}, Channels: []string{"team-a"},
	}, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		eventType string
		channels  []string
		want      bool
	}{
		{"job.completed", []string{"team-a"}, true},
		{"job.completed", []string{"team-b"}, false},
		{"job.completed", nil, false},
		{"job.failed", []string{"team-a"}, false},
	}
	for _, c := range cases {
		if got := active(c.eventType, c.channels...); got != c.want {
			t.Errorf("Precheck(%s, %v) = %v, want %v", c.eventType, c.channels, got, c.want)
		}
	}
	for _, body := range []string{`{"eventType":"bad name"}`,
		`{"eventType":"job.completed","channels":["a","b","c","d","e","f"]}`,
		`{"eventType":"job.completed","channels":["no spaces"]}`,
		`{"eventType":"job.completed","channels":[]}`} {
		if r := n.do(http.MethodPost, "/api/v1/app/"+app.Id+"/msg/precheck/active", body); r.status != http.StatusUnprocessableEntity {
			t.Errorf("precheck %s: %d %s, want 422", body, r.status, r.body)
		}
	}
}

// TestTransformationsAnswerClearly checks that the transformation routes
// read as disabled and refuse to enable one in words, rather than 404.
func TestTransformationsAnswerClearly(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	app, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "Transform"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := n.sdk.Endpoint.Create(ctx(t), app.Id, models.EndpointIn{Url: "https://example.com/t"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := n.sdk.Endpoint.TransformationGet(ctx(t), app.Id, ep.Id)
	if err != nil || got.Enabled == nil || *got.Enabled || got.Code != nil {
		t.Fatalf("TransformationGet = %+v, %v; want disabled, no code", got, err)
	}
	off := false
	if err := n.sdk.Endpoint.PatchTransformation(ctx(t), app.Id, ep.Id, models.EndpointTransformationPatch{Enabled: &off}); err != nil {
		t.Errorf("turning transformations off: %v", err)
	}
	code := utils.NewNullable("function handler(w) { return w }")
	err = n.sdk.Endpoint.PatchTransformation(ctx(t), app.Id, ep.Id, models.EndpointTransformationPatch{Code: code})
	if sdkStatus(t, err) != http.StatusUnprocessableEntity {
		t.Errorf("setting code: %v, want 422", err)
	}
	r := n.do(http.MethodPatch, "/api/v1/app/"+app.Id+"/endpoint/"+ep.Id+"/transformation", `{"enabled":true}`)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "transformations_not_supported") {
		t.Errorf("enabling: %d %s", r.status, r.body)
	}
}

// TestEventTypeFeatureFlag checks Svix's older single featureFlag field
// is taken and echoed beside featureFlags.
func TestEventTypeFeatureFlag(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	flag := "beta"
	et, err := n.sdk.EventType.Create(ctx(t), models.EventTypeIn{Name: "job.flagged", Description: "d", FeatureFlag: &flag}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if et.FeatureFlag == nil || *et.FeatureFlag != "beta" || len(et.FeatureFlags) != 1 || et.FeatureFlags[0] != "beta" {
		t.Fatalf("created %+v", et)
	}
	list, err := n.sdk.EventType.List(ctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list.Data {
		if e.Name == "job.flagged" && (e.FeatureFlag == nil || *e.FeatureFlag != "beta") {
			t.Errorf("listed %+v", e)
		}
	}
}

// TestEventTypeFeatureFlagsHideFromTokens: an event type behind a feature
// flag is listed and readable by app-portal tokens issued with that flag
// only; the admin sees it always.
func TestEventTypeFeatureFlagsHideFromTokens(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	app, err := n.sdk.Application.Create(ctx(t), models.ApplicationIn{Name: "Flags"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, et := range []models.EventTypeIn{
		{Name: "job.public", Description: "p"},
		{Name: "job.secret", Description: "s", FeatureFlags: []string{"beta"}},
	} {
		if _, err := n.sdk.EventType.Create(ctx(t), et, nil); err != nil {
			t.Fatal(err)
		}
	}
	token := func(flags []string) string {
		out, err := n.sdk.Authentication.AppPortalAccess(ctx(t), app.Id, models.AppPortalAccessIn{FeatureFlags: flags}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out.Token
	}
	for _, c := range []struct {
		name  string
		token string
		sees  bool
	}{
		{"admin", testToken, true},
		{"no flags", token(nil), false},
		{"other flag", token([]string{"gamma"}), false},
		{"beta", token([]string{"beta"}), true},
	} {
		r := n.doToken(c.token, http.MethodGet, "/api/v1/event-type", nil)
		var list struct{ Data []struct{ Name string } }
		r.json(t, &list)
		var names []string
		for _, d := range list.Data {
			names = append(names, d.Name)
		}
		listed := slices.Contains(names, "job.secret")
		if r.status != http.StatusOK || listed != c.sees || !slices.Contains(names, "job.public") {
			t.Errorf("%s: list %d, job.secret listed %v, want %v: %s", c.name, r.status, listed, c.sees, r.body)
		}
		// Not even a cursor may name it.
		if !c.sees && strings.Contains(string(r.body), "job.secret") {
			t.Errorf("%s: the list names the hidden type: %s", c.name, r.body)
		}
		want := http.StatusNotFound
		if c.sees {
			want = http.StatusOK
		}
		if r := n.doToken(c.token, http.MethodGet, "/api/v1/event-type/job.secret", nil); r.status != want {
			t.Errorf("%s: get %d, want %d", c.name, r.status, want)
		}
	}
}

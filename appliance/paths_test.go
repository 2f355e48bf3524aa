package appliance_test

import (
	"net/http"
	"testing"
)

// TestTrailingSlashPaths checks that routes answer as Svix's docs write
// them, with a trailing slash, and that writes are served, not redirected.
func TestTrailingSlashPaths(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	var app struct{ ID string }
	r := n.do(http.MethodPost, "/api/v1/app/", `{"name":"Slash","uid":"slash"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("POST /api/v1/app/: %d %s", r.status, r.body)
	}
	r.json(t, &app)
	cases := []struct {
		method, path, body string
		status             int
	}{
		{http.MethodGet, "/api/v1/health/", "", http.StatusNoContent},
		{http.MethodGet, "/api/v1/app/", "", http.StatusOK},
		{http.MethodGet, "/api/v1/app/slash/", "", http.StatusOK},
		{http.MethodPost, "/api/v1/app/slash/endpoint/", `{"url":"https://example.com/hook"}`, http.StatusCreated},
		{http.MethodGet, "/api/v1/app/slash/endpoint/", "", http.StatusOK},
		{http.MethodPost, "/api/v1/event-type/", `{"name":"job.completed","description":"done"}`, http.StatusCreated},
		{http.MethodGet, "/api/v1/app/" + app.ID + "/msg/", "", http.StatusOK},
		{http.MethodGet, "/api/v1/app/nope/", "", http.StatusNotFound},
	}
	for _, c := range cases {
		var body any
		if c.body != "" {
			body = c.body
		}
		if r := n.do(c.method, c.path, body); r.status != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, r.status, r.body, c.status)
		}
	}
}

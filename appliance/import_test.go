package appliance_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	svix "github.com/svix/svix-webhooks/go"
	"github.com/svix/svix-webhooks/go/models"
)

const jobsOpenAPI = `
openapi: 3.1.0
info: {title: Jobs, version: "1"}
webhooks:
  job.completed:
    post:
      description: A job finished.
      x-svix-group-name: job
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Job"}
  job.failed:
    post:
      summary: A job failed.
      deprecated: true
      x-svix-feature-flags: [beta]
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                job: {$ref: "#/components/schemas/Job"}
                reason: {type: string, maxLength: 9007199254740993}
components:
  schemas:
    Job:
      type: object
      required: [id]
      properties:
        id: {type: string}
`

// TestImportOpenAPI: event types come from an OpenAPI document's webhooks,
// YAML or JSON, with schemas standing alone; dryRun changes nothing and
// replaceAll archives what the document does not name.
func TestImportOpenAPI(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	if _, err := n.sdk.EventType.Create(ctx(t), models.EventTypeIn{Name: "legacy.event", Description: "old"}, nil); err != nil {
		t.Fatal(err)
	}
	spec := jobsOpenAPI
	dry := true
	out, err := n.sdk.EventType.ImportOpenapi(ctx(t), models.EventTypeImportOpenApiIn{SpecRaw: &spec, DryRun: &dry}, nil)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if len(out.Data.Modified) != 2 || len(out.Data.ToModify) != 2 {
		t.Fatalf("dry run = %+v", out.Data)
	}
	if _, err := n.sdk.EventType.Get(ctx(t), "job.completed"); sdkStatus(t, err) != http.StatusNotFound {
		t.Fatalf("dry run created an event type: %v", err)
	}

	all := true
	out, err = n.sdk.EventType.ImportOpenapi(ctx(t), models.EventTypeImportOpenApiIn{SpecRaw: &spec, ReplaceAll: &all}, nil)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if len(out.Data.Modified) != 3 {
		t.Errorf("modified %v, want the two imported and the archived one", out.Data.Modified)
	}
	done, err := n.sdk.EventType.Get(ctx(t), "job.completed")
	if err != nil {
		t.Fatal(err)
	}
	job := (*done.Schemas)["1"].(map[string]any)
	if done.Description != "A job finished." || done.GroupName == nil || *done.GroupName != "job" || job["type"] != "object" {
		t.Errorf("job.completed = %+v", done)
	}
	failed, err := n.sdk.EventType.Get(ctx(t), "job.failed")
	if err != nil {
		t.Fatal(err)
	}
	if !failed.Deprecated || failed.Description != "A job failed." || len(failed.FeatureFlags) != 1 {
		t.Errorf("job.failed = %+v", failed)
	}
	if failed.CreatedAt.Year() < 2020 || failed.UpdatedAt.Before(failed.CreatedAt) {
		t.Errorf("job.failed times: created %v, updated %v", failed.CreatedAt, failed.UpdatedAt)
	}
	r := n.do(http.MethodGet, "/api/v1/event-type/job.failed", nil)
	if !strings.Contains(string(r.body), `"maxLength":9007199254740993`) || strings.Contains(string(r.body), "$ref") {
		t.Errorf("job.failed schema not inlined exactly: %s", r.body)
	}
	list, err := n.sdk.EventType.List(ctx(t), &svix.EventTypeListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, et := range list.Data {
		if et.Name == "legacy.event" {
			t.Errorf("replaceAll left legacy.event listed")
		}
	}
	// Importing the same document again changes nothing.
	out, err = n.sdk.EventType.ImportOpenapi(ctx(t), models.EventTypeImportOpenApiIn{SpecRaw: &spec}, nil)
	if err != nil || len(out.Data.Modified) != 0 {
		t.Errorf("re-import = %+v, %v", out, err)
	}

	// A few hundred bytes of $refs that name each other four times per
	// level would inline into gigabytes; deep schemas without $refs are
	// fine.
	bomb := `{"openapi":"3.1.0","webhooks":{"a.b":{"post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/L0"}}}}}}},"components":{"schemas":{`
	for i := range 12 {
		if i > 0 {
			bomb += ","
		}
		next := fmt.Sprintf(`{"$ref":"#/components/schemas/L%d"}`, i+1)
		if i == 11 {
			next = `{"type":"string"}`
		}
		bomb += fmt.Sprintf(`"L%d":{"type":"object","properties":{"a":%s,"b":%s,"c":%s,"d":%s}}`, i, next, next, next, next)
	}
	bomb += `}}}`
	deep := `{"type":"string"}`
	for range 20 {
		deep = `{"type":"object","properties":{"x":` + deep + `}}`
	}
	deepSpec := `{"openapi":"3.1.0","webhooks":{"deep.one":{"post":{"requestBody":{"content":{"application/json":{"schema":` + deep + `}}}}}}}`
	if r := n.do(http.MethodPost, "/api/v1/event-type/import/openapi", `{"spec":`+deepSpec+`}`); r.status != http.StatusOK {
		t.Errorf("a deep schema without $refs: %d %s", r.status, r.body)
	}
	longDesc := `{"spec":{"webhooks":{"a.b":{"post":{"description":"` + strings.Repeat("d", 5000) + `"}}}}}`
	recursive := `{"spec":{"webhooks":{"a.b":{"post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/T"}}}}}}},"components":{"schemas":{"T":{"properties":{"next":{"$ref":"#/components/schemas/T"}}}}}}}`
	for _, body := range []string{`{"spec":` + bomb + `}`, longDesc, recursive,
		`{"specRaw":"{\"webhooks\":{\"a.b\":{\"post\":{\"x\":1e999999}}}}"}`,
		`{"specRaw":"webhooks:\n  a.b: {post: {}}\n  a.b: {post: {}}\n"}`} {
		if r := n.do(http.MethodPost, "/api/v1/event-type/import/openapi", body); r.status != http.StatusUnprocessableEntity {
			t.Errorf("import %.80s: %d %.300s, want 422", body, r.status, r.body)
		}
	}
	for _, body := range []string{`{}`, `{"specRaw":"a: [b"}`, `{"spec":{"openapi":"3.1.0"}}`,
		`{"spec":{"webhooks":{"bad name":{"post":{}}}}}`,
		`{"spec":{"webhooks":{"a.b":{"post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/nope"}}}}}}}}}`} {
		if r := n.do(http.MethodPost, "/api/v1/event-type/import/openapi", body); r.status != http.StatusUnprocessableEntity {
			t.Errorf("import %s: %d %s, want 422", body, r.status, r.body)
		}
	}
}

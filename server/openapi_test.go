package server

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestOpenAPIDocumentsEveryRoute loads the document, validates it as
// OpenAPI 3, and checks that it names exactly the routes the router
// serves: a route added without its description, or a description left
// after its route is gone, fails here.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("not a valid OpenAPI 3 document: %v", err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	served := map[string]bool{}
	for method, paths := range Routes() {
		for _, p := range paths {
			served[method+" "+p] = true
		}
	}
	var missing, stale []string
	for r := range served {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for r := range documented {
		if !served[r] {
			stale = append(stale, r)
		}
	}
	slices.Sort(missing)
	slices.Sort(stale)
	if len(missing) > 0 {
		t.Errorf("served but not in openapi.yaml:\n  %s", strings.Join(missing, "\n  "))
	}
	if len(stale) > 0 {
		t.Errorf("in openapi.yaml but not served:\n  %s", strings.Join(stale, "\n  "))
	}
}

// TestREADMERoutesMatchOpenAPI keeps the README's table of served routes
// generated from the document: HERALD_UPDATE_README=1 rewrites it.
func TestREADMERoutesMatchOpenAPI(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	want := routeTable(doc)
	const begin, end = "<!-- routes:begin (generated from server/openapi.yaml) -->\n", "<!-- routes:end -->"
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(readme, []byte(begin)), bytes.Index(readme, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q section", strings.TrimSpace(begin), end)
	}
	got := string(readme[i+len(begin) : j])
	if got == want {
		return
	}
	if os.Getenv("HERALD_UPDATE_README") != "" {
		out := append(append(append([]byte{}, readme[:i+len(begin)]...), want...), readme[j:]...)
		if err := os.WriteFile("../README.md", out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's route table differs from server/openapi.yaml; run HERALD_UPDATE_README=1 go test ./server/ -run TestREADMERoutes\n got:\n%s\nwant:\n%s", got, want)
}

// routeTable renders the document's operations as a Markdown table,
// grouped by tag in the document's tag order.
func routeTable(doc *openapi3.T) string {
	type row struct{ tag, path, method, note string }
	var rows []row
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			tag := ""
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			note := ""
			if _, ok := op.Extensions["x-herald"]; ok {
				note = "Herald addition"
			}
			if op.Deprecated {
				note = "deprecated in Svix"
			}
			rows = append(rows, row{tag, path, method, note})
		}
	}
	order := map[string]int{}
	for i, tg := range doc.Tags {
		order[tg.Name] = i
	}
	methods := map[string]int{"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}
	slices.SortFunc(rows, func(a, b row) int {
		if c := order[a.tag] - order[b.tag]; c != 0 {
			return c
		}
		if c := strings.Compare(a.path, b.path); c != 0 {
			return c
		}
		return methods[a.method] - methods[b.method]
	})
	var b strings.Builder
	b.WriteString("| group | method | path | note |\n|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | `%s` | %s |\n", r.tag, r.method, r.path, r.note)
	}
	return b.String()
}

package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"
	"sigs.k8s.io/yaml"

	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// importOpenAPI creates or updates event types from the webhooks of an
// OpenAPI document, as Svix's event-type import does: each entry of
// `webhooks` (OpenAPI 3.1) or `x-webhooks` (the 3.0 extension) becomes an
// event type named by its key, with the operation's description, the JSON
// schema of its request body as version "1" of the type's schemas (local
// $refs inlined), its `deprecated` flag, and Svix's x-svix-feature-flags
// and x-svix-group-name extensions. dryRun only reports; replaceAll
// archives the event types the document does not name.
func (s *Server) importOpenAPI(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	var in struct {
		DryRun     bool            `json:"dryRun"`
		ReplaceAll bool            `json:"replaceAll"`
		Spec       json.RawMessage `json:"spec"`
		SpecRaw    *string         `json:"specRaw"`
	}
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	var v violations
	spec := in.Spec
	switch {
	case len(spec) > 0 && string(spec) != "null" && in.SpecRaw != nil:
		v.add("give spec or specRaw, not both", "spec")
	case in.SpecRaw != nil && json.Valid([]byte(*in.SpecRaw)):
		// JSON text is taken as JSON, with the body's strictness and
		// every digit of its numbers.
		if err := checkStrictJSON([]byte(*in.SpecRaw)); err != nil {
			v.add("is not strict JSON: "+err.Error(), "specRaw")
		}
		spec = []byte(*in.SpecRaw)
	case in.SpecRaw != nil:
		// YAML with a key given twice is refused, as in a JSON body.
		raw, err := yaml.YAMLToJSONStrict([]byte(*in.SpecRaw))
		if err != nil {
			v.add("is neither JSON nor YAML: "+err.Error(), "specRaw")
		}
		spec = raw
	case len(spec) == 0 || string(spec) == "null":
		v.add("field required: the OpenAPI document, as spec (JSON) or specRaw (JSON or YAML text)", "spec")
	}
	if err := v.err(); err != nil {
		return err
	}
	types, err := eventTypesFromOpenAPI(spec)
	if err != nil {
		return err
	}
	now := s.now().UnixNano()
	for i := range types {
		types[i].CreatedAt, types[i].UpdatedAt = now, now
		if err := validateImported(&types[i]); err != nil {
			return err
		}
	}
	modified := make([]string, 0, len(types))
	var cmds []raft.Command
	named := map[string]bool{}
	for i := range types {
		t := &types[i]
		named[t.Name] = true
		if old, err := s.loadEventType(t.Name); err == nil {
			t.CreatedAt = old.CreatedAt
			if sameEventType(&old, t) {
				continue
			}
		}
		modified = append(modified, t.Name)
		cmds = append(cmds, &raft.PutEventType{Meta: raft.Meta{Time: now}, EventType: *t})
	}
	if in.ReplaceAll {
		err := s.store.View(func(r *storage.Reader) error {
			opts := storage.ListOptions{Limit: 250}
			for {
				page, err := r.ListEventTypes(opts, false)
				if err != nil {
					return err
				}
				for _, t := range page.Items {
					if !named[t.Name] {
						modified = append(modified, t.Name)
						cmds = append(cmds, &raft.DeleteEventType{Meta: raft.Meta{Time: now}, Name: t.Name})
					}
				}
				if page.Done || page.Iterator == "" {
					return nil
				}
				opts.Iterator = page.Iterator
			}
		})
		if err != nil {
			return err
		}
	}
	out := struct {
		Data struct {
			Modified []string           `json:"modified"`
			ToModify []openAPIEventType `json:"to_modify,omitempty"`
		} `json:"data"`
	}{}
	out.Data.Modified = modified
	if in.DryRun {
		out.Data.ToModify = make([]openAPIEventType, 0, len(types))
		for i := range types {
			if slices.Contains(modified, types[i].Name) {
				out.Data.ToModify = append(out.Data.ToModify, toOpenAPIEventType(&types[i]))
			}
		}
		writeJSON(c, http.StatusOK, out)
		return nil
	}
	for _, cmd := range cmds {
		resp, err := s.node.Apply(cmd)
		if err != nil {
			return err
		}
		if res, _ := resp.(raft.Result); res.Err != nil {
			return res.Err
		}
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}

// openAPIEventType is Svix's EventTypeFromOpenApi.
type openAPIEventType struct {
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	Deprecated   bool            `json:"deprecated"`
	FeatureFlags []string        `json:"featureFlags,omitempty"`
	GroupName    *string         `json:"groupName,omitempty"`
	Schemas      json.RawMessage `json:"schemas,omitempty"`
}

func toOpenAPIEventType(t *storage.EventType) openAPIEventType {
	return openAPIEventType{Name: t.Name, Description: t.Description, Deprecated: t.Deprecated,
		FeatureFlags: t.FeatureFlags, GroupName: optString(t.GroupName), Schemas: t.Schemas}
}

func sameEventType(a, b *storage.EventType) bool {
	return a.Description == b.Description && a.Deprecated == b.Deprecated && !a.Archived &&
		slices.Equal(a.FeatureFlags, b.FeatureFlags) && a.GroupName == b.GroupName && string(a.Schemas) == string(b.Schemas)
}

// eventTypesFromOpenAPI reads the webhooks of an OpenAPI document (already
// JSON), in name order.
func eventTypesFromOpenAPI(spec []byte) ([]storage.EventType, error) {
	var doc map[string]any
	var v violations
	dec := json.NewDecoder(bytes.NewReader(spec))
	dec.UseNumber() // schema bounds such as maximum keep every digit
	if err := dec.Decode(&doc); err != nil || doc == nil {
		v.add("must be a JSON object (an OpenAPI document)", "spec")
		return nil, v.err()
	}
	hooks, _ := doc["webhooks"].(map[string]any)
	if hooks == nil {
		hooks, _ = doc["x-webhooks"].(map[string]any)
	}
	if len(hooks) == 0 {
		v.add("the document has no webhooks (OpenAPI 3.1 `webhooks` or 3.0 `x-webhooks`) to import", "spec")
		return nil, v.err()
	}
	names := make([]string, 0, len(hooks))
	for name := range hooks {
		names = append(names, name)
	}
	slices.Sort(names)
	types := make([]storage.EventType, 0, len(names))
	for _, name := range names {
		if !namePattern.MatchString(name) {
			v.add("webhook "+name+": "+eventTypeNameRule, "spec", "webhooks", name)
			continue
		}
		item, _ := hooks[name].(map[string]any)
		op, _ := item["post"].(map[string]any)
		if op == nil {
			v.add("webhook "+name+" has no post operation", "spec", "webhooks", name)
			continue
		}
		t := storage.EventType{Name: name}
		t.Description, _ = op["description"].(string)
		if t.Description == "" {
			t.Description, _ = op["summary"].(string)
		}
		t.Deprecated, _ = op["deprecated"].(bool)
		if flags, ok := op["x-svix-feature-flags"].([]any); ok {
			for _, f := range flags {
				if s, ok := f.(string); ok {
					t.FeatureFlags = append(t.FeatureFlags, s)
				}
			}
		} else if f, ok := op["x-svix-feature-flag"].(string); ok {
			t.FeatureFlags = []string{f}
		}
		t.GroupName, _ = op["x-svix-group-name"].(string)
		if schema := requestSchema(op); schema != nil {
			inlined, err := inlineRefs(doc, schema, nil, &refBudget{})
			if err != nil {
				v.add("webhook "+name+": "+err.Error(), "spec", "webhooks", name)
				continue
			}
			t.Schemas, _ = json.Marshal(map[string]any{"1": inlined})
		}
		types = append(types, t)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return types, nil
}

// requestSchema returns the JSON schema of an operation's request body.
func requestSchema(op map[string]any) any {
	body, _ := op["requestBody"].(map[string]any)
	content, _ := body["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	return media["schema"]
}

// importLimits bound what one event type's schema may grow to once its
// $refs are inlined: a few hundred bytes of references can otherwise name
// each other into gigabytes.
const (
	maxRefDepth     = 32        // $refs followed in a row
	maxInlinedNodes = 256 << 10 // JSON values written in all, about 256 KiB
)

// refBudget counts what inlining has produced so far.
type refBudget struct{ nodes int }

// inlineRefs replaces local "#/..." $refs in a schema by what they name,
// so each event type's schema stands alone. A $ref that names one of its
// own ancestors (a recursive schema) cannot be inlined and is refused.
func inlineRefs(doc map[string]any, node any, refs []string, b *refBudget) (any, error) {
	if b.nodes++; b.nodes > maxInlinedNodes {
		return nil, importError("the schema grows past 256 KiB once its $refs are inlined")
	}
	switch n := node.(type) {
	case map[string]any:
		if ref, ok := n["$ref"].(string); ok {
			if slices.Contains(refs, ref) {
				return nil, importError("$ref " + ref + " refers to itself: recursive schemas cannot be inlined")
			}
			if len(refs) >= maxRefDepth {
				return nil, importError("$refs nest more than 32 deep")
			}
			target, err := resolveRef(doc, ref)
			if err != nil {
				return nil, err
			}
			return inlineRefs(doc, target, append(refs, ref), b)
		}
		out := make(map[string]any, len(n))
		for k, v := range n {
			r, err := inlineRefs(doc, v, refs, b)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(n))
		for i, v := range n {
			r, err := inlineRefs(doc, v, refs, b)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return node, nil
}

// importError is a plain message about the document; the caller says
// which webhook it concerns.
type importError string

func (e importError) Error() string { return string(e) }

// validateImported holds an imported event type to the limits of one
// created through the API.
func validateImported(t *storage.EventType) error {
	in := eventTypeIn{Name: &t.Name, Description: &t.Description, FeatureFlags: t.FeatureFlags, GroupName: &t.GroupName, Schemas: t.Schemas}
	if err := in.validate(false); err != nil {
		var ve *validationError
		if errors.As(err, &ve) {
			for i := range ve.fields {
				ve.fields[i].Loc = append([]string{"body", "spec", "webhooks", t.Name}, ve.fields[i].Loc[1:]...)
			}
		}
		return err
	}
	return nil
}

func resolveRef(doc map[string]any, ref string) (any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, importError("only local $refs (#/...) can be imported, not " + ref)
	}
	var cur any = doc
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, importError("$ref " + ref + " names nothing in the document")
		}
		if cur, ok = m[part]; !ok {
			return nil, importError("$ref " + ref + " names nothing in the document")
		}
	}
	return cur, nil
}

package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

type eventTypeIn struct {
	Name         *string         `json:"name"`
	Description  *string         `json:"description"`
	Archived     *bool           `json:"archived"`
	Deprecated   *bool           `json:"deprecated"`
	FeatureFlag  *string         `json:"featureFlag"` // Svix's older single flag
	FeatureFlags []string        `json:"featureFlags"`
	GroupName    *string         `json:"groupName"`
	Schemas      json.RawMessage `json:"schemas"`
}

// eventTypeNameRule is the message for an event type name that breaks namePattern.
const eventTypeNameRule = "event type names are 1-256 characters of a-z, A-Z, 0-9, '-', '_' and '.'"

func checkEventTypeName(v *violations, name string) {
	v.check(namePattern.MatchString(name), eventTypeNameRule, "name")
}

func (in *eventTypeIn) validate(nameFromPath bool) error {
	var v violations
	if !nameFromPath {
		if in.Name == nil {
			v.add("field required", "name")
		} else {
			checkEventTypeName(&v, *in.Name)
		}
	}
	if in.Description != nil {
		v.check(len(*in.Description) <= 4096, "must be at most 4096 characters", "description")
	}
	if in.GroupName != nil {
		v.check(len(*in.GroupName) <= 256, "must be at most 256 characters", "groupName")
	}
	if in.FeatureFlag != nil {
		v.check(in.FeatureFlags == nil || slices.Equal(in.FeatureFlags, []string{*in.FeatureFlag}),
			"give featureFlags or the older featureFlag, not two different sets", "featureFlag")
		if in.FeatureFlags == nil {
			in.FeatureFlags = []string{*in.FeatureFlag}
		}
	}
	v.check(len(in.FeatureFlags) <= 64, "at most 64 feature flags", "featureFlags")
	if len(in.Schemas) > 0 && !bytes.Equal(in.Schemas, []byte("null")) {
		v.check(isJSONObject(in.Schemas), "must be a JSON object", "schemas")
		v.check(len(in.Schemas) <= 256<<10, "must be at most 256 KiB", "schemas")
	}
	return v.err()
}

func (in *eventTypeIn) eventType(name string, now int64) storage.EventType {
	t := storage.EventType{
		Name: name, Description: deref(in.Description), FeatureFlags: in.FeatureFlags,
		GroupName: deref(in.GroupName), CreatedAt: now, UpdatedAt: now,
		Archived: in.Archived != nil && *in.Archived, Deprecated: in.Deprecated != nil && *in.Deprecated,
	}
	if len(in.Schemas) > 0 && !bytes.Equal(in.Schemas, []byte("null")) {
		t.Schemas = compactJSON(in.Schemas)
	}
	return t
}

// isJSONObject reports whether raw (already valid JSON) is an object.
func isJSONObject(raw []byte) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && raw[0] == '{'
}

func compactJSON(raw []byte) []byte {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

func (s *Server) loadEventType(name string) (storage.EventType, error) {
	var t storage.EventType
	err := s.store.View(func(r *storage.Reader) error {
		var err error
		t, err = r.EventType(name)
		return err
	})
	if err == storage.ErrNotFound {
		return t, notFound("Event type")
	}
	return t, err
}

func (s *Server) listEventTypes(c *fasthttp.RequestCtx, p principal) error {
	opts, err := listOptions(c, false)
	if err != nil {
		return err
	}
	var v violations
	includeArchived := queryBool(c, "include_archived", &v)
	withContent := queryBool(c, "with_content", &v)
	if err := v.err(); err != nil {
		return err
	}
	var page storage.Page[storage.EventType]
	err = s.store.View(func(r *storage.Reader) error {
		page, err = r.ListVisibleEventTypes(opts, includeArchived, p.seesEventType)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newList(page, func(t *storage.EventType) eventTypeOut {
		out := toEventTypeOut(t)
		if !withContent {
			out.Schemas = nil
		}
		return out
	}))
	return nil
}

func (s *Server) createEventType(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	if s.replayed(c, p) {
		return nil
	}
	var in eventTypeIn
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	if err := in.validate(false); err != nil {
		return err
	}
	now := s.now()
	t := in.eventType(*in.Name, now.UnixNano())
	if old, err := s.loadEventType(t.Name); err == nil {
		// Creating an archived name unarchives it; the FSM keeps its
		// creation time, so the answer must show the same.
		t.CreatedAt = old.CreatedAt
	}
	body, _ := json.Marshal(toEventTypeOut(&t))
	return s.commit(c, &raft.CreateEventType{Meta: s.meta(c, p, now, http.StatusCreated, body), EventType: t}, http.StatusCreated, body)
}

func (s *Server) getEventType(c *fasthttp.RequestCtx, p principal) error {
	t, err := s.loadEventType(pathParam(c, "event_type_name"))
	if err != nil {
		return err
	}
	if !p.seesEventType(&t) {
		return notFound("Event type")
	}
	writeJSON(c, http.StatusOK, toEventTypeOut(&t))
	return nil
}

// updateEventType is PUT: replace the event type, or create it (201).
func (s *Server) updateEventType(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	name := pathParam(c, "event_type_name")
	var in eventTypeIn
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	var v violations
	checkEventTypeName(&v, name)
	if err := v.err(); err != nil {
		return err
	}
	if err := in.validate(true); err != nil {
		return err
	}
	now := s.now()
	t := in.eventType(name, now.UnixNano())
	status := http.StatusOK
	if old, err := s.loadEventType(name); err == nil {
		t.CreatedAt = old.CreatedAt
	} else {
		status = http.StatusCreated
	}
	body, _ := json.Marshal(toEventTypeOut(&t))
	return s.commit(c, &raft.PutEventType{Meta: raft.Meta{Time: now.UnixNano()}, EventType: t}, status, body)
}

type eventTypePatch struct {
	Description  *string                   `json:"description"`
	Archived     *bool                     `json:"archived"`
	Deprecated   *bool                     `json:"deprecated"`
	FeatureFlag  nullable[string]          `json:"featureFlag"`
	FeatureFlags nullable[[]string]        `json:"featureFlags"`
	GroupName    nullable[string]          `json:"groupName"`
	Schemas      nullable[json.RawMessage] `json:"schemas"`
}

func (s *Server) patchEventType(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	var in eventTypePatch
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	t, err := s.loadEventType(pathParam(c, "event_type_name"))
	if err != nil {
		return err
	}
	var v violations
	if in.Description != nil {
		v.check(len(*in.Description) <= 4096, "must be at most 4096 characters", "description")
		t.Description = *in.Description
	}
	if in.Archived != nil {
		t.Archived = *in.Archived
	}
	if in.Deprecated != nil {
		t.Deprecated = *in.Deprecated
	}
	if in.FeatureFlag.Set && !in.FeatureFlags.Set {
		in.FeatureFlags = nullable[[]string]{Set: true, Null: in.FeatureFlag.Null}
		if !in.FeatureFlag.Null {
			in.FeatureFlags.Value = []string{in.FeatureFlag.Value}
		}
	}
	if in.FeatureFlags.Set {
		t.FeatureFlags = in.FeatureFlags.Value
	}
	if in.GroupName.Set {
		v.check(len(in.GroupName.Value) <= 256, "must be at most 256 characters", "groupName")
		t.GroupName = in.GroupName.Value
	}
	if in.FeatureFlags.Set {
		v.check(len(in.FeatureFlags.Value) <= 64, "at most 64 feature flags", "featureFlags")
	}
	if in.Schemas.Set {
		t.Schemas = nil
		if !in.Schemas.Null {
			v.check(isJSONObject(in.Schemas.Value), "must be a JSON object", "schemas")
			v.check(len(in.Schemas.Value) <= 256<<10, "must be at most 256 KiB", "schemas")
			t.Schemas = compactJSON(in.Schemas.Value)
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	now := s.now()
	t.UpdatedAt = now.UnixNano()
	body, _ := json.Marshal(toEventTypeOut(&t))
	return s.commit(c, &raft.PutEventType{Meta: raft.Meta{Time: now.UnixNano()}, EventType: t}, http.StatusOK, body)
}

// deleteEventType archives the event type (Svix's default) or, with
// ?expunge=true, removes it.
func (s *Server) deleteEventType(c *fasthttp.RequestCtx, p principal) error {
	if err := p.requireAdmin(); err != nil {
		return err
	}
	var v violations
	expunge := queryBool(c, "expunge", &v)
	if err := v.err(); err != nil {
		return err
	}
	t, err := s.loadEventType(pathParam(c, "event_type_name"))
	if err != nil {
		return err
	}
	cmd := &raft.DeleteEventType{Meta: raft.Meta{Time: s.now().UnixNano()}, Name: t.Name, Expunge: expunge}
	return s.commit(c, cmd, statusNoContent, noContent)
}

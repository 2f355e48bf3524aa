package server

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// eventExampleIn is Svix's EventExampleIn.
type eventExampleIn struct {
	EventType    *string `json:"eventType"`
	ExampleIndex *int    `json:"exampleIndex"`
}

// pingEventType is the event type Svix's portal uses for a plain test.
const pingEventType = "svix.ping"

// sendExample sends an example of an event type to one endpoint only
// (Svix's send-example): the first example of the type's newest schema
// when it has one, otherwise a small generated sample. It answers 202 with
// the message (Svix's MessageOut) once the message is committed; the
// attempt follows like any other and shows in the endpoint's logs.
func (s *Server) sendExample(c *fasthttp.RequestCtx, p principal) error {
	var in eventExampleIn
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	var v violations
	if in.EventType == nil {
		v.add("field required", "eventType")
	} else {
		v.check(namePattern.MatchString(*in.EventType), "event type names are 1-256 characters of a-z, A-Z, 0-9, '-', '_' and '.'", "eventType")
	}
	index := 0
	if in.ExampleIndex != nil {
		index = *in.ExampleIndex
		v.check(index >= 0, "must not be negative", "exampleIndex")
	}
	if err := v.err(); err != nil {
		return err
	}
	a, ep, err := s.loadEndpoint(c, p)
	if err != nil {
		return err
	}
	if s.replayed(c, p) {
		return nil
	}
	var et storage.EventType
	err = s.store.View(func(r *storage.Reader) error {
		et, err = r.EventType(*in.EventType)
		return err
	})
	switch {
	case err == storage.ErrNotFound && *in.EventType == pingEventType:
	case err == storage.ErrNotFound:
		v.add("no such event type", "eventType")
		return v.err()
	case err != nil:
		return err
	}
	payload, examples := schemaExample(et.Schemas, index)
	if payload == nil && examples > 0 {
		v.add("the event type has no object example with this index", "exampleIndex")
		return v.err()
	}
	if payload == nil { // as in Svix, the index is ignored without examples
		payload = sampleFor(*in.EventType)
	}
	now := s.now()
	m := storage.Message{
		ID: storage.NewID(storage.PrefixMessage, now), AppID: a.ID, EventType: *in.EventType,
		Payload: payload, Timestamp: now.UnixNano(),
	}
	body := marshalMessage(toMessageOut(&m, true))
	cmd := &raft.SendExample{Meta: s.meta(c, p, now, http.StatusAccepted, body), Message: storage.NewMessage{Message: m}, EndpointID: ep.ID}
	return s.commit(c, cmd, http.StatusAccepted, body)
}

// schemaExample returns example index of the newest schema version in
// Svix's event-type schemas ({"1": {..., "examples": [...]}}), compacted,
// when it is a JSON object (nil otherwise), and how many examples the
// version has.
func schemaExample(schemas json.RawMessage, index int) ([]byte, int) {
	var versions map[string]struct {
		Examples []json.RawMessage `json:"examples"`
	}
	if len(schemas) == 0 || json.Unmarshal(schemas, &versions) != nil {
		return nil, 0
	}
	best, bestN := "", -1
	for k := range versions {
		n := 0
		for _, r := range k {
			if r < '0' || r > '9' {
				n = -1
				break
			}
			n = n*10 + int(r-'0')
		}
		if n > bestN {
			best, bestN = k, n
		}
	}
	ex := versions[best].Examples
	if bestN < 0 {
		return nil, 0
	}
	if index >= len(ex) {
		return nil, len(ex)
	}
	var obj map[string]json.RawMessage
	var buf bytes.Buffer
	if json.Unmarshal(ex[index], &obj) != nil || obj == nil || json.Compact(&buf, ex[index]) != nil {
		return nil, len(ex)
	}
	return buf.Bytes(), len(ex)
}

// sampleFor is the payload of an example when the event type has none.
func sampleFor(eventType string) []byte {
	body, _ := json.Marshal(map[string]any{"type": eventType, "example": true, "data": map[string]any{"id": "example_1", "status": "ok"}})
	return body
}

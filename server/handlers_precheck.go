package server

import (
	"net/http"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/storage"
)

// precheckMessage answers Svix's "would a message like this go anywhere?":
// active is true when an enabled endpoint of the app subscribes to the
// event type (and shares a channel, when the endpoint filters on them).
// Platforms call it to skip building payloads nobody receives.
func (s *Server) precheckMessage(c *fasthttp.RequestCtx, p principal) error {
	var in struct {
		EventType *string  `json:"eventType"`
		Channels  []string `json:"channels"`
	}
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	var v violations
	if in.EventType == nil {
		v.add("field required", "eventType")
	} else {
		v.check(namePattern.MatchString(*in.EventType), eventTypeNameRule, "eventType")
	}
	checkMessageChannels(&v, in.Channels)
	if err := v.err(); err != nil {
		return err
	}
	a, err := s.loadApp(p, pathParam(c, "app_id"))
	if err != nil {
		return err
	}
	m := storage.Message{AppID: a.ID, EventType: *in.EventType, Channels: in.Channels}
	var active bool
	err = s.store.View(func(r *storage.Reader) error {
		active, err = r.AnyEndpointMatches(a.ID, &m)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, struct {
		Active bool `json:"active"`
	}{active})
	return nil
}

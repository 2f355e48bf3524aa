package server

import (
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/delivery"
	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// Custom headers Herald adds to every delivery of an endpoint, through
// Svix's headers routes. Values of headers that carry credentials for the
// receiver are never returned: they are listed by name in "sensitive".
// Every value, sensitive or not, is sealed before it enters a Raft command
// (see delivery.SealHeader) and opened only here and by the dispatcher.

func (s *Server) getEndpointHeaders(c *fasthttp.RequestCtx, p principal) error {
	_, ep, err := s.loadEndpoint(c, p)
	if err != nil {
		return err
	}
	out := struct {
		Headers   map[string]string `json:"headers"`
		Sensitive []string          `json:"sensitive"`
	}{Headers: map[string]string{}, Sensitive: []string{}}
	for k := range ep.Headers {
		if delivery.SensitiveHeader(k) {
			out.Sensitive = append(out.Sensitive, k)
		}
	}
	if len(out.Sensitive) < len(ep.Headers) {
		// Only the values shown are opened.
		shown := ep
		shown.Headers = maps.Clone(ep.Headers)
		for _, k := range out.Sensitive {
			delete(shown.Headers, k)
		}
		plain, err := delivery.OpenHeaders(s.cfg.Keys, &shown)
		if err != nil {
			return err
		}
		maps.Copy(out.Headers, plain)
	}
	slices.Sort(out.Sensitive)
	writeJSON(c, http.StatusOK, out)
	return nil
}

// updateEndpointHeaders replaces every custom header (PUT).
func (s *Server) updateEndpointHeaders(c *fasthttp.RequestCtx, p principal) error {
	var in struct {
		Headers map[string]string `json:"headers"`
	}
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	_, ep, err := s.loadEndpoint(c, p)
	if err != nil {
		return err
	}
	var v violations
	if in.Headers == nil {
		v.add("field required", "headers")
	}
	checkHeaders(&v, in.Headers)
	if err := v.err(); err != nil {
		return err
	}
	ep.Headers = s.sealHeaders(&ep, in.Headers)
	return s.commitEndpointHeaders(c, p, ep)
}

// patchEndpointHeaders sets the headers given and removes those named in
// deleteHeaders; names match case-insensitively, as in HTTP.
func (s *Server) patchEndpointHeaders(c *fasthttp.RequestCtx, p principal) error {
	var in struct {
		Headers       map[string]string `json:"headers"`
		DeleteHeaders []string          `json:"deleteHeaders"`
	}
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	_, ep, err := s.loadEndpoint(c, p)
	if err != nil {
		return err
	}
	var v violations
	v.check(len(in.DeleteHeaders) <= 100, "at most 100 names", "deleteHeaders")
	headers := maps.Clone(ep.Headers)
	if headers == nil {
		headers = map[string]string{}
	}
	remove := func(name string) {
		for k := range headers {
			if strings.EqualFold(k, name) {
				delete(headers, k)
			}
		}
	}
	for _, name := range in.DeleteHeaders {
		remove(name)
	}
	for k, val := range in.Headers {
		remove(k)
		headers[k] = val
	}
	// Checked before sealing: the limits are on the values clients send.
	// Values kept from before are sealed already (or plain text from
	// before sealing, which the check accepted when they were stored).
	checkHeaders(&v, in.Headers)
	if len(in.Headers) <= 20 {
		v.check(len(headers) <= 20, "at most 20 headers", "headers")
	}
	if err := v.err(); err != nil {
		return err
	}
	for k, val := range s.sealHeaders(&ep, in.Headers) {
		headers[k] = val
	}
	ep.Headers = headers
	return s.commitEndpointHeaders(c, p, ep)
}

func (s *Server) commitEndpointHeaders(c *fasthttp.RequestCtx, p principal, ep storage.Endpoint) error {
	if len(ep.Headers) == 0 {
		ep.Headers = nil
	}
	now := s.now()
	ep.UpdatedAt = now.UnixNano()
	s.sealEndpoint(&ep)
	return s.commit(c, &raft.UpdateEndpoint{Meta: s.meta(c, p, now, http.StatusNoContent, nil), Endpoint: ep}, statusNoContent, noContent)
}

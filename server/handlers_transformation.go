package server

import (
	"net/http"

	"github.com/valyala/fasthttp"
)

// Herald runs no transformations (Svix's JavaScript hooks that rewrite a
// message per endpoint): every endpoint's transformation reads as absent
// and disabled, and a request to set one is refused in words, so an SDK
// call that only turns them off still succeeds.

// errNoTransformations answers a request to enable or set a transformation.
var errNoTransformations = errorf(http.StatusUnprocessableEntity, "transformations_not_supported",
	"Herald does not run endpoint transformations: payloads are delivered as sent.")

func (s *Server) getTransformation(c *fasthttp.RequestCtx, p principal) error {
	if _, _, err := s.loadEndpoint(c, p); err != nil {
		return err
	}
	disabled := false
	writeJSON(c, http.StatusOK, struct {
		Enabled *bool `json:"enabled"`
	}{&disabled})
	return nil
}

func (s *Server) patchTransformation(c *fasthttp.RequestCtx, p principal) error {
	var in struct {
		Code      nullable[string]            `json:"code"`
		Enabled   *bool                       `json:"enabled"`
		Variables nullable[map[string]string] `json:"variables"`
	}
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	if _, _, err := s.loadEndpoint(c, p); err != nil {
		return err
	}
	if (in.Enabled != nil && *in.Enabled) || (in.Code.Set && !in.Code.Null) || (in.Variables.Set && !in.Variables.Null && len(in.Variables.Value) > 0) {
		return errNoTransformations
	}
	c.SetStatusCode(statusNoContent)
	c.SetBody(noContent)
	return nil
}

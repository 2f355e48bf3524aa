package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/valyala/fasthttp"

	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// apiError is an error answered to the client as {"code": ..., "detail": ...}.
type apiError struct {
	status int
	code   string
	detail string
}

func (e *apiError) Error() string { return e.code + ": " + e.detail }

func errorf(status int, code, detail string) *apiError {
	return &apiError{status: status, code: code, detail: detail}
}

// Errors every handler may answer, in one place so codes stay consistent.
var (
	errUnauthorized    = errorf(http.StatusUnauthorized, "authentication_failed", "Missing or invalid bearer token.")
	errForbidden       = errorf(http.StatusForbidden, "insufficient access", "Insufficient access for the given operation.")
	errNotLeader       = errorf(http.StatusServiceUnavailable, "not_leader", "No leader is available to accept writes; retry shortly.")
	errUnavailable     = errorf(http.StatusServiceUnavailable, "unavailable", "The write could not be confirmed; retry with the same idempotency-key.")
	errShuttingDown    = errorf(http.StatusServiceUnavailable, "shutting_down", "The node is shutting down.")
	errDiskLow         = errorf(http.StatusInsufficientStorage, "insufficient_storage", "The node's disk is nearly full: writes are refused until space is freed. Reads and deliveries go on.")
	errBodyTooLarge    = errorf(http.StatusRequestEntityTooLarge, "payload_too_large", "The request body is too large.")
	errHeadersTooLarge = errorf(http.StatusRequestHeaderFieldsTooLarge, "headers_too_large", "The request line and headers are too large.")
	errTooManyHeaders  = errorf(http.StatusRequestHeaderFieldsTooLarge, "headers_too_large", "The request has too many headers.")
	errRequestTimeout  = errorf(http.StatusRequestTimeout, "request_timeout", "The request did not arrive in full within the read timeout.")
)

func notFound(what string) *apiError {
	return errorf(http.StatusNotFound, "not_found", what+" not found")
}

// fieldError is one entry of a 422 validation error, in Svix's shape.
type fieldError struct {
	Loc  []string `json:"loc"`
	Msg  string   `json:"msg"`
	Type string   `json:"type"`
}

// validationError is a 422 answer listing every invalid field.
type validationError struct {
	fields []fieldError
}

func (e *validationError) Error() string {
	if len(e.fields) == 0 {
		return "validation failed"
	}
	return "validation failed: " + e.fields[0].Msg
}

// violations collects what is wrong with a request while it is checked:
// body fields and query parameters that break a rule, answered together
// as one 422 validation_error.
type violations struct {
	fields []fieldError
}

func (v *violations) add(msg string, loc ...string) {
	v.fields = append(v.fields, fieldError{Loc: append([]string{"body"}, loc...), Msg: msg, Type: "value_error"})
}

// addQuery records a query parameter that breaks a rule.
func (v *violations) addQuery(msg, param string) {
	v.fields = append(v.fields, fieldError{Loc: []string{"query", param}, Msg: msg, Type: "value_error"})
}

// badQuery records a query parameter that does not parse. It is answered
// like every other invalid value (422, located in the query), not 400:
// clients handle one error shape for "fix your input".
func (v *violations) badQuery(msg, param string) {
	v.fields = append(v.fields, fieldError{Loc: []string{"query", param}, Msg: msg, Type: "type_error"})
}

func (v *violations) check(ok bool, msg string, loc ...string) {
	if !ok {
		v.add(msg, loc...)
	}
}

func (v *violations) err() error {
	if len(v.fields) > 0 {
		return &validationError{fields: v.fields}
	}
	return nil
}

// writeError answers err as JSON. Errors from the layers below are mapped to
// status codes here and nowhere else.
func (s *Server) writeError(c *fasthttp.RequestCtx, err error) {
	var (
		ae *apiError
		ve *validationError
	)
	switch {
	case errors.As(err, &ve):
		writeJSON(c, http.StatusUnprocessableEntity, struct {
			Code   string       `json:"code"`
			Detail []fieldError `json:"detail"`
		}{"validation_error", ve.fields})
		return
	case errors.As(err, &ae):
	case errors.Is(err, storage.ErrNotFound):
		ae = notFound("Entity")
	case errors.Is(err, storage.ErrUIDTaken):
		ae = errorf(http.StatusConflict, "conflict", "An entity with this uid already exists.")
	case errors.Is(err, storage.ErrConflict):
		ae = errorf(http.StatusConflict, "conflict", "An entity with this id already exists.")
	case errors.Is(err, storage.ErrEventIDTaken):
		ae = errorf(http.StatusConflict, "conflict", "A message with this eventId already exists.")
	case errors.Is(err, raft.ErrNodeRemoved):
		ae = errorf(http.StatusConflict, "node_removed",
			"This node was removed from the cluster and may not re-join: stop it, or allow it back with herald cluster allow-rejoin NODE_ID (POST /api/v1/cluster/node/{id}/allow-rejoin).")
	case errors.Is(err, raft.ErrNotLeader):
		ae = errNotLeader
	case errors.Is(err, storage.ErrDiskLow), errors.Is(err, storage.ErrDiskFull):
		c.Response.Header.Set("Retry-After", "30")
		ae = errDiskLow
	case errors.Is(err, raft.ErrUnknownOutcome):
		ae = errUnavailable
	case errors.Is(err, raft.ErrShutdown):
		ae = errShuttingDown
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The node stopped (or the client left) while the write waited
		// for Raft: it may still commit, so the client retries with its
		// idempotency key.
		ae = errUnavailable
	default:
		s.log.Error().Err(err).Str("path", string(c.Path())).Msg("request failed")
		ae = errorf(http.StatusInternalServerError, "internal_error", "Internal error.")
	}
	writeJSON(c, ae.status, struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}{ae.code, ae.detail})
}

// writeJSON answers v with status.
func writeJSON(c *fasthttp.RequestCtx, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"code":"internal_error","detail":"Internal error."}`)
	}
	writeRaw(c, status, body)
}

// writeRaw answers an already-encoded JSON body.
func writeRaw(c *fasthttp.RequestCtx, status int, body []byte) {
	c.SetStatusCode(status)
	if status == http.StatusNoContent {
		return
	}
	c.SetContentType("application/json")
	c.SetBody(body)
}

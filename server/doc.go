// Package server is Herald's HTTP API on fasthttp, compatible with the Svix
// API v1: the same paths, JSON fields, ids, list envelope, bearer auth and
// error bodies, so Svix's client libraries work unchanged.
//
// Invariants:
//
//   - Reads are served from the local state. Writes are Raft commands: a
//     handler validates the request, builds the entity with the leader's
//     time, renders its success response, and answers only after the
//     command is applied (for messages, 202 means committed by a quorum).
//   - A request with an Idempotency-Key carries its rendered response in
//     the command; the FSM stores it only if the command succeeds, so a
//     repeat of the key replays the same status and body on any node.
//   - Bad input is answered with a JSON 4xx before anything is written.
//   - Errors map to status codes in one place (errors.go). Tokens are
//     compared as hashes and never logged; endpoint secrets appear only in
//     the secret route's response.
//   - Endpoint secrets and every custom header value are sealed before
//     they enter a Raft command; sealing is random, so it never happens
//     in the FSM.
//   - What an application token may do is decided in one table
//     (routeAccess, capabilities.go), checked on every authenticated
//     request before its handler runs; a route missing there is closed to
//     application tokens.
package server

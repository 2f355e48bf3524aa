// Package delivery sends webhooks: the scheduler and dispatcher that run on
// the leader, the HTTP sender with its SSRF guard, signing (Standard
// Webhooks, or a configurable HMAC scheme), and the retry policy.
//
// Invariants:
//
//   - Only the leader dispatches. When leadership is lost the current term
//     is cancelled at once: no new attempt starts, attempts in flight are
//     abandoned, and the next leader (or this node, later) sends them again
//     from the schedule index. Delivery is therefore at least once, and the
//     webhook-id header is the message id on every attempt and resend so
//     receivers can deduplicate.
//   - A schedule key is dispatched at most once while its outcome is
//     pending: it stays in the in-flight set until the outcome is committed
//     through Raft (or, if that fails, is released to be sent again).
//   - A key may be sent before its due time only by a catch-up: after a
//     scheduled retry to its endpoint succeeded, and only until an attempt
//     to that endpoint started since then fails. The due time is a "not
//     before" of the retry policy, not of correctness; the attempt is
//     recorded like any other, and if it fails the key keeps its due time
//     and attempt number.
//   - An endpoint's attempts in flight are bounded by its limit, halved by
//     each attempt that got no answer, a 429 or a 5xx (down to one) and
//     doubled by each success, so a receiver that is down is retried one
//     attempt at a time. Its keys skipped while it was full go before its
//     newer ones.
//   - The per-endpoint flow control above (limit, backoff, catch-up,
//     throttle, refills) lives in flows (flow.go), which has no side
//     effects: it reads no clock and starts no timer; the dispatcher runs
//     goroutines, timers and logs around it under its lock. What an
//     attempt's outcome means for its delivery is decide (outcome.go), a
//     pure function.
//   - A one-off destination named on a message (id dst_..., see
//     storage.DestinationID) is delivered like an endpoint, under its id:
//     its URL comes from the message and its secrets from the application
//     (target.go). Its flow state is keyed by that id, one per application
//     and URL origin, so a host receiving many jobs' webhooks is limited
//     like an endpoint, and many distinct hosts cost one state each only
//     while they are busy or backing off (flows forgets and prunes idle
//     ones). A 410 from it abandons the delivery; there is nothing to
//     disable.
//   - A delivery follows the policy stamped into it when it was created
//     (storage.Policy: retry schedule, attempt timeout, 410 and
//     Retry-After handling, signature scheme, header names); what it
//     leaves unset is the server's configuration at attempt time. A
//     schedule that ends fails the delivery.
//   - Memory is bounded: the scheduler reads the index a page at a time and
//     holds only the attempts in flight and the outcomes awaiting commit.
//   - Every connection's address is checked after DNS resolution (Guard),
//     redirects are never followed, and response bodies are read up to a
//     limit.
//   - An attempt's record keeps the headers sent and received, bounded
//     (recorded_headers.go), and never a credential: values of
//     Authorization (basic and bearer auth to the receiver),
//     Proxy-Authorization, cookies and credential-looking names
//     (SensitiveHeader) are replaced by Redacted in the sender, before
//     anything reaches Raft; the endpoint's other custom header values are
//     sealed in the record, as in the endpoint (SealRecordedHeaders).
//     Signatures are kept.
package delivery

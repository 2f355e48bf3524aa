// Package portal is the consumer portal: the page a platform's customers
// open from an app-portal link to manage their endpoints, read delivery
// logs, send test events and see delivery stats.
//
// Invariants:
//   - Everything the page loads is embedded in the binary (go:embed) and
//     served from the same origin; nothing comes from another host, and
//     building Herald needs no Node toolchain. The one third-party file,
//     htm's Preact standalone bundle, is pinned and checked against
//     vendor.sha256 (make portal-vendor re-fetches it from npm).
//   - The page talks only to the public JSON API, with the app-scoped
//     token from the link's fragment (kept in sessionStorage, stripped from
//     the address bar): the API alone decides what a token may do, and the
//     handler here serves static files, never data.
//   - Every response carries a strict Content-Security-Policy: scripts and
//     styles only from this origin, no inline code, no eval, API calls only
//     to this origin, framing only by the configured ancestors.
package portal

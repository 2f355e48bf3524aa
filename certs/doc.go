// Package certs holds a node's TLS material: the certificate and key it
// presents (on the API, on the Raft transport and when it calls other
// nodes) and the CA bundle it trusts for other nodes, and builds the
// tls.Configs for those three uses.
//
// Invariants:
//
//   - The key pair is reloaded without a restart: on Reload (SIGHUP), and
//     when a handshake finds the files' modification time or size changed
//     (checked at most once a second). A pair that fails to load (a
//     half-written file, a key that does not match) never replaces the one
//     in use: the node keeps serving the old certificate and logs an error,
//     once per version of the files.
//   - Node-to-node traffic trusts only the configured CA when there is one,
//     and then the Raft transport requires a client certificate it signed
//     (mutual TLS). The API port asks for one but does not require it, as
//     the platform's own clients authenticate with tokens; a certificate
//     that does not chain to the CA is refused there too, and the join
//     route requires one (server.Config.RequireNodeCert).
//   - The CA bundle is read once, at start; changing it needs a restart.
//   - Nothing here reads or logs key bytes.
package certs

// Package raft replicates Herald's state with hashicorp/raft: the node
// (open, bootstrap, apply, leadership), the FSM over the storage package,
// the command envelope, the group-commit batcher, and the Badger log store.
//
// Invariants:
//
//   - Every change to the state is a Command applied through Raft; nothing
//     writes the state directly, on the leader or anywhere else.
//   - A command is one type byte followed by a compact encoding of its
//     body. Type values are only ever appended (command.go); an entry that
//     does not decode stops the node instead of letting replicas diverge.
//   - The FSM never reads a clock or randomness: the leader stamps times
//     and ids into commands.
//   - The log store syncs every write: an entry acknowledged to raft is on
//     disk. The state store does not, and raft runs with
//     NoSnapshotRestoreOnStart, so a restart replays only the log after the
//     state's applied index (see storage).
//   - Clients get an answer only after their command is applied locally on
//     the leader, which happens after a quorum has stored it.
//   - Raft never replicates through a pipeline (WithoutPipelining wraps
//     the transport): hashicorp/raft's pipeline deadlocks after a follower
//     rejects an append (hashicorp/raft#612), leaving that follower with
//     heartbeats but no entries and the leader unable to shut down. One
//     AppendEntries round trip at a time per follower, each carrying
//     everything queued meanwhile, is the price (docs/BENCHMARKS.md).
package raft

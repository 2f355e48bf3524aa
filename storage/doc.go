// Package storage is Herald's replicated state: applications, endpoints,
// event types, messages, deliveries, attempts and the schedule index, kept
// in one Badger database per node.
//
// Invariants:
//
//   - Only the Raft FSM writes, through Batch and Tx; everything else reads
//     through Store.View. The state is therefore identical on every node at
//     the same applied index.
//   - Every committed write batch also writes the Raft index of the last
//     entry it completed (meta/applied). Writes are not synced: after a
//     crash Raft replays the log from the last snapshot and entries at or
//     below the stored index are skipped, so nothing is lost or applied
//     twice. The state is synced before a snapshot is taken, because raft
//     may then drop the log the state came from.
//   - Operations are deterministic: they read only the state and their
//     arguments; times and ids are chosen by the leader before the command
//     is replicated.
//   - A business error (not found, uid taken, event id taken) is returned
//     before anything is written. Anything else Badger reports while
//     applying is fatal for the node (it panics) rather than letting the
//     state diverge.
//   - The schedule index q/<due ms>/<msg>/<endpoint> holds exactly the
//     pending attempts. A delivery leaves it when an outcome is recorded,
//     and a retry re-enters it under its new due time.
//   - Retention (retention.go) removes only what the leader's command
//     names by time: payloads whose pexp/ entry is due, messages older than
//     the cutoff. A message with a delivery still pending keeps its payload
//     and its records.
//   - The disk guard (disk.go) only reads the filesystems; the layers above
//     refuse writes with its answer before Badger could meet a full disk.
//
// Key layout is in keys.go; record encodings (a version byte, then fields
// appended only) in model.go.
package storage

package raft

import (
	"errors"
	"fmt"
	"io"

	hraft "github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/herald-webhooks/herald/storage"
)

// Result is what applying one command (or one item of a batch command)
// produced. Business failures are values in Err, never reasons to stop.
type Result struct {
	Err      error
	Replay   *storage.IdempotentResponse // a stored response for the idempotency key
	Existing string                      // with ErrEventIDTaken: the message holding the event id
	Created  bool                        // PutEventType created rather than replaced
	Fanout   int                         // CreateMessages: deliveries created
	Count    int                         // Expire: records deleted; Recover, ReplayMissing: deliveries queued
	Cursor   string                      // Recover, ReplayMissing: last message looked at, "" once the range is done
}

// Hooks let the layers above react to what the FSM applied, without the FSM
// importing them. They run on the FSM goroutine and must not block.
type Hooks struct {
	// Scheduled is called after a batch wrote schedule keys, with the
	// earliest due time (unix ms) among them.
	Scheduled func(minDueMs int64)
	// Restored is called after the state was replaced by a snapshot.
	Restored func()
}

// FSM applies committed Raft entries to the state store. It is small on
// purpose: decode the envelope, switch on the type, call storage.
type FSM struct {
	store *storage.Store
	hooks Hooks
	log   zerolog.Logger
}

// NewFSM returns the FSM over store.
func NewFSM(store *storage.Store, hooks Hooks, log zerolog.Logger) *FSM {
	return &FSM{store: store, hooks: hooks, log: log}
}

var _ hraft.BatchingFSM = (*FSM)(nil)

// Apply applies one entry; raft uses ApplyBatch, this exists for the
// interface.
func (f *FSM) Apply(l *hraft.Log) any { return f.ApplyBatch([]*hraft.Log{l})[0] }

// ApplyBatch applies a run of committed entries in one storage batch (one
// Badger transaction unless they are very large) and returns one response
// per entry: a Result, or []Result for batch commands.
func (f *FSM) ApplyBatch(logs []*hraft.Log) []any {
	out := make([]any, len(logs))
	b, err := f.store.Begin()
	if err != nil {
		panic(fmt.Sprintf("fsm: begin batch: %v", err))
	}
	for i, l := range logs {
		if l.Type != hraft.LogCommand {
			b.Skip(l.Index)
			continue
		}
		cmd, err := Decode(l.Data)
		if err != nil {
			// Every node would fail the same way, or diverge: stop here.
			panic(fmt.Sprintf("fsm: entry %d: %v", l.Index, err))
		}
		var res any
		aerr := b.Apply(l.Index, func(tx *storage.Tx) error {
			res = apply(tx, cmd)
			return nil
		})
		if errors.Is(aerr, storage.ErrApplied) {
			continue
		}
		out[i] = res
	}
	if err := b.Commit(); err != nil {
		panic(fmt.Sprintf("fsm: commit batch: %v", err))
	}
	if due := b.MinDue(); due != 0 && f.hooks.Scheduled != nil {
		f.hooks.Scheduled(due)
	}
	return out
}

// apply is the one switch over command types.
func apply(tx *storage.Tx, cmd Command) any {
	switch c := cmd.(type) {
	case *CreateApp:
		return idempotent(tx, &c.Meta, func() Result { return Result{Err: tx.CreateApp(c.App)} })
	case *UpdateApp:
		return idempotent(tx, &c.Meta, func() Result { return Result{Err: tx.UpdateApp(c.App)} })
	case *DeleteApp:
		return idempotent(tx, &c.Meta, func() Result { return Result{Err: tx.DeleteApp(c.AppID)} })
	case *CreateEndpoint:
		return idempotent(tx, &c.Meta, func() Result { return Result{Err: tx.CreateEndpoint(c.Endpoint)} })
	case *UpdateEndpoint:
		return idempotent(tx, &c.Meta, func() Result { return Result{Err: tx.UpdateEndpoint(c.Endpoint)} })
	case *DeleteEndpoint:
		return idempotent(tx, &c.Meta, func() Result { return Result{Err: tx.DeleteEndpoint(c.AppID, c.EndpointID, c.Time)} })
	case *CreateEventType:
		return idempotent(tx, &c.Meta, func() Result { return Result{Err: tx.CreateEventType(c.EventType)} })
	case *PutEventType:
		return idempotent(tx, &c.Meta, func() Result {
			created, err := tx.PutEventType(c.EventType)
			return Result{Err: err, Created: created}
		})
	case *DeleteEventType:
		return idempotent(tx, &c.Meta, func() Result {
			return Result{Err: tx.DeleteEventType(c.Name, c.Expunge, c.Time)}
		})
	case *CreateMessages:
		results := make([]Result, len(c.Items))
		for i := range c.Items {
			it := &c.Items[i]
			results[i] = idempotent(tx, &it.Meta, func() Result {
				fanout, existing, err := tx.CreateMessage(it.Message)
				return Result{Err: err, Existing: existing, Fanout: fanout}
			})
		}
		return results
	case *RecordOutcomes:
		tx.RecordOutcomes(c.Outcomes, c.Notices, c.AutoDisableNs)
		return Result{}
	case *Resend:
		return idempotent(tx, &c.Meta, func() Result {
			return Result{Err: tx.Resend(c.AppID, c.MsgID, c.EndpointID, c.Time/1e6)}
		})
	case *Expire:
		return Result{Count: tx.Expire(c.NowMs, int(c.Limit))}
	case *SetAdminHash:
		tx.SetAdminHash(c.Hash)
		return Result{}
	case *PutNode:
		tx.PutNode(c.Node)
		return Result{}
	case *DeleteNode:
		tx.DeleteNode(c.ID)
		return Result{}
	case *RemoveNode:
		tx.RemoveNode(storage.RemovedNode{ID: c.ID, At: c.At})
		return Result{}
	case *AllowRejoin:
		return Result{Err: tx.AllowRejoin(c.ID)}
	case *PutAppToken:
		return Result{Err: tx.PutAppToken(c.Token)}
	case *RevokeAppTokens:
		tx.RevokeAppTokens(c.AppID, c.TokenHash, c.SessionIDs, c.At)
		return Result{}
	case *SendExample:
		return idempotent(tx, &c.Meta, func() Result {
			return Result{Err: tx.CreateMessageFor(c.Message, c.EndpointID), Fanout: 1}
		})
	case *Recover:
		n, cursor := tx.Recover(c.AppID, c.EndpointID, c.Since, c.Until, c.After, int(c.Limit), c.Time/1e6)
		return Result{Count: n, Cursor: cursor}
	case *PutTask:
		tx.PutTask(c.Task)
		return Result{}
	case *ReplayMissing:
		n, cursor := tx.ReplayMissing(c.AppID, c.EndpointID, c.Since, c.Until, c.After, int(c.Limit), c.Time/1e6)
		return Result{Count: n, Cursor: cursor}
	case *ExpirePayloads:
		return Result{Count: tx.ExpirePayloads(c.NowMs, int(c.Limit))}
	case *PurgeMessages:
		n, cursor := tx.PurgeMessages(c.BeforeNs, c.AfterApp, int(c.Limit))
		return Result{Count: n, Cursor: cursor}
	case *SetAppSecret:
		return idempotent(tx, &c.Meta, func() Result {
			return Result{Err: tx.SetAppSecret(c.AppID, c.Secret, c.PrevSecrets, c.IfAbsent, c.Time)}
		})
	case *ExpungeContent:
		return idempotent(tx, &c.Meta, func() Result {
			if c.AttemptID != "" {
				return Result{Err: tx.ExpungeAttemptContent(c.AppID, c.MsgID, c.AttemptID)}
			}
			return Result{Err: tx.ExpungeContent(c.AppID, c.MsgID)}
		})
	}
	panic(fmt.Sprintf("fsm: no apply for command type %d", cmd.Type()))
}

// idempotent runs fn unless the request's idempotency key already has a
// stored response, which it returns instead; when fn succeeds it stores the
// response the leader rendered for this request. A stored response equal to
// this request's own is this very entry, re-applied after a partial commit:
// then fn runs again to finish its writes.
func idempotent(tx *storage.Tx, m *Meta, fn func() Result) Result {
	if m.Idem == nil {
		return fn()
	}
	ttl := m.Idem.ExpiresMs*1e6 - m.Time
	if prev, ok := tx.Idempotent(m.Idem.Hash); ok && m.Time-prev.CreatedAt < ttl {
		own := prev.CreatedAt == m.Time && string(prev.Body) == string(m.Idem.Body)
		if !own {
			return Result{Replay: &prev}
		}
	}
	res := fn()
	if res.Err == nil {
		tx.PutIdempotent(m.Idem.Hash, storage.IdempotentResponse{
			Status: m.Idem.Status, Body: m.Idem.Body, CreatedAt: m.Time,
		}, m.Idem.ExpiresMs)
	}
	return res
}

// Snapshot captures the state for raft. It first syncs the state to disk:
// once the snapshot exists raft may delete the log entries the state was
// built from, and with NoSnapshotRestoreOnStart the state on disk is all a
// restarted node has.
func (f *FSM) Snapshot() (hraft.FSMSnapshot, error) {
	if err := f.store.Sync(); err != nil {
		return nil, fmt.Errorf("sync state before snapshot: %w", err)
	}
	sn, err := f.store.Snapshot()
	if err != nil {
		return nil, err
	}
	return &fsmSnapshot{sn: sn, log: f.log}, nil
}

// Restore replaces the state with a snapshot from the leader.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.store.RestoreFrom(rc); err != nil {
		return err
	}
	f.log.Info().Uint64("applied_index", f.store.AppliedIndex()).Msg("state restored from snapshot")
	if f.hooks.Restored != nil {
		f.hooks.Restored()
	}
	return nil
}

type fsmSnapshot struct {
	sn  *storage.Snapshot
	log zerolog.Logger
}

func (s *fsmSnapshot) Persist(sink hraft.SnapshotSink) error {
	// Released here as well as in Release: raft's RecoverCluster persists a
	// snapshot and never releases it, and an unreleased snapshot holds the
	// store's read lock.
	defer s.sn.Release()
	n, err := s.sn.WriteTo(sink)
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("write state snapshot: %w", err)
	}
	s.log.Info().Int64("bytes", n).Uint64("applied_index", s.sn.AppliedIndex()).Msg("state snapshot written")
	return sink.Close()
}

func (s *fsmSnapshot) Release() { s.sn.Release() }

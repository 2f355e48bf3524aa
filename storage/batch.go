package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// A Batch applies a run of committed Raft entries to the state, as few
// Badger transactions as their size allows. Every commit writes the index of
// the last entry it completed in the same transaction, which is what makes
// replaying the log after a crash safe: entries at or below the stored index
// are skipped.
//
// Only the FSM goroutine uses a Batch, and only one at a time.
type Batch struct {
	s      *Store
	txn    *badger.Txn
	done   uint64 // last entry completed in this batch
	writes int    // writes in the open transaction
	bytes  int
	cost   int64 // Badger's size of the open transaction, bounded above (writeCost)
	minDue int64 // earliest schedule key written, 0 = none
	wrote  bool
	apps   bool // an application record was written (see Store.CachedApp)
	eps    bool // an endpoint record was written (see Store.CachedEndpoint)
	// appsSeen memoizes, for this batch, which applications exist: every
	// message checks its app, and a batch holds hundreds of messages of
	// few apps. Any write to an application record clears it.
	appsSeen map[string]bool
	// appPolicies memoizes, like appsSeen, each application's delivery
	// policy for stamping into deliveries.
	appPolicies map[string]Policy
	// failing memoizes, by ep-fail/ key, each endpoint's run of failures
	// (zero: not failing) for this batch: every outcome reads it, and a
	// batch holds hundreds of outcomes of few endpoints. Every write of
	// such a key goes through Tx.setFailing, which keeps it.
	failing map[string]failRun
	release func()
}

// Soft limits on one transaction: past them the batch commits at the next
// entry boundary. Badger's hard limit is larger; staying well under it keeps
// the overflow path (see Tx.set) rare.
const (
	softMaxWrites = 20000
	softMaxBytes  = 4 << 20
)

// txnReserve is room kept in every transaction for what a commit adds to
// the entries' own writes: the applied index and Badger's commit marker.
const txnReserve = 128

// ErrApplied reports an entry at or below the applied index: a replay.
var ErrApplied = errors.New("entry already applied")

// Begin starts a batch. The caller must Commit it (which also releases it).
func (s *Store) Begin() (*Batch, error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	b := &Batch{s: s, done: s.applied.Load(), release: s.mu.RUnlock}
	b.txn = s.db.NewTransaction(true)
	return b, nil
}

// Apply runs fn for the entry at index. Entries at or below the applied
// index are skipped with ErrApplied and fn is not called. A business error
// fn returns is passed back; its writes, if any, still commit, so fn must
// check before it writes.
func (b *Batch) Apply(index uint64, fn func(tx *Tx) error) error {
	if index <= b.done {
		return ErrApplied
	}
	tx := &Tx{b: b}
	err := fn(tx)
	if tx.fatal != nil {
		panic(fmt.Sprintf("storage: apply entry %d: %v", index, tx.fatal))
	}
	b.done = index
	b.wrote = true
	if b.writes >= softMaxWrites || b.bytes >= softMaxBytes {
		if ferr := b.flush(); ferr != nil {
			panic(fmt.Sprintf("storage: commit at entry %d: %v", index, ferr))
		}
	}
	return err
}

// Skip marks an entry with nothing to write (a Raft configuration change)
// as applied.
func (b *Batch) Skip(index uint64) {
	if index > b.done {
		b.done = index
		b.wrote = true
	}
}

// MinDue returns the earliest due time (unix ms) of the schedule keys this
// batch wrote, or 0.
func (b *Batch) MinDue() int64 { return b.minDue }

// Commit writes the applied index and commits. The batch cannot be used
// afterwards.
func (b *Batch) Commit() error {
	defer b.release()
	if !b.wrote {
		b.txn.Discard()
		return nil
	}
	err := b.flush()
	// flush opened the next transaction: end it, or it pins Badger's read
	// watermark for good.
	b.txn.Discard()
	return err
}

// flush commits the open transaction with the index of the last completed
// entry and opens a new one.
func (b *Batch) flush() error {
	var idx [8]byte
	binary.BigEndian.PutUint64(idx[:], b.done)
	if err := b.txn.Set([]byte(pApplied), idx[:]); err != nil {
		return err
	}
	if err := b.txn.Commit(); err != nil {
		return err
	}
	b.s.applied.Store(b.done)
	if b.apps {
		b.s.apps.invalidate()
		b.apps = false
	}
	if b.eps {
		b.s.endpoints.invalidate()
		b.eps = false
	}
	b.txn = b.s.db.NewTransaction(true)
	b.writes, b.bytes, b.cost = 0, 0, 0
	return nil
}

// commitPartial commits what the current entry has written so far without
// moving the applied index past the previous entry. Used only when a single
// entry outgrows a transaction; the entry is then re-applied in full after a
// crash, which the operations that can be that large tolerate (CreateMessage
// re-writes the same keys).
func (b *Batch) commitPartial() error {
	return b.flush()
}

// makeRoom commits what the open transaction holds (see commitPartial) when
// a write of cost might not fit in it together with txnReserve. Waiting for
// Badger's ErrTxnTooBig is too late: by then the applied index, which the
// commit must add, may not fit either.
func (b *Batch) makeRoom(cost int64) error {
	db := b.s.db
	if b.writes == 0 || (int64(b.writes)+3 < db.MaxBatchCount() && b.cost+cost+txnReserve < db.MaxBatchSize()) {
		return nil
	}
	return b.commitPartial()
}

// writeCost bounds what Badger charges a transaction for one write (see
// badger.Txn.checkSize): the key, the value or, from valueThreshold up, a
// pointer to it, and metadata and version bytes.
func writeCost(k, v []byte) int64 {
	return int64(len(k) + min(len(v), valueThreshold) + 24)
}

// Tx is the write view one Raft entry gets. Reads see the entry's own
// writes. Badger errors other than a missing key are fatal for the node (the
// state could otherwise diverge), so write helpers record them and Apply
// panics.
type Tx struct {
	b     *Batch
	fatal error
}

func (tx *Tx) get(k []byte, fn func(v []byte) error) error {
	if tx.fatal != nil {
		return tx.fatal
	}
	item, err := tx.b.txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return ErrNotFound
	}
	if err != nil {
		tx.fatal = err
		return err
	}
	if fn == nil {
		return nil
	}
	if err := item.Value(fn); err != nil {
		tx.fatal = err
		return err
	}
	return nil
}

func (tx *Tx) exists(k []byte) bool { return tx.get(k, nil) == nil }

func (tx *Tx) set(k, v []byte) {
	if tx.fatal != nil {
		return
	}
	b := tx.b
	cost := writeCost(k, v)
	if err := b.makeRoom(cost); err != nil {
		tx.fatal = err
		return
	}
	err := b.txn.Set(k, v)
	if errors.Is(err, badger.ErrTxnTooBig) {
		if err = b.commitPartial(); err == nil {
			err = b.txn.Set(k, v)
		}
	}
	if err != nil {
		tx.fatal = err
		return
	}
	// After the write: a partial commit it forced must not carry the
	// invalidation flags away before the write itself is in a commit.
	tx.touch(k)
	b.writes++
	b.bytes += len(k) + len(v)
	b.cost += cost
}

func (tx *Tx) del(k []byte) {
	if tx.fatal != nil {
		return
	}
	b := tx.b
	cost := writeCost(k, nil)
	if err := b.makeRoom(cost); err != nil {
		tx.fatal = err
		return
	}
	err := b.txn.Delete(k)
	if errors.Is(err, badger.ErrTxnTooBig) {
		if err = b.commitPartial(); err == nil {
			err = b.txn.Delete(k)
		}
	}
	if err != nil {
		tx.fatal = err
		return
	}
	tx.touch(k)
	b.writes++
	b.bytes += len(k)
	b.cost += cost
}

// touch keeps caches of the state in step with a write to k.
func (tx *Tx) touch(k []byte) {
	if bytes.HasPrefix(k, []byte(pApp)) || bytes.HasPrefix(k, []byte(pAppUID)) {
		tx.b.apps = true
		clear(tx.b.appsSeen)
		clear(tx.b.appPolicies)
	}
	if bytes.HasPrefix(k, []byte(pEpUID)) {
		tx.b.eps = true
	}
	if rest, ok := bytes.CutPrefix(k, []byte(pEndpoint)); ok {
		tx.b.eps = true
		app, _, _ := bytes.Cut(rest, []byte{'/'})
		tx.b.s.forgetEndpoints(string(app))
	}
}

// iterate calls fn for each key with prefix, in key order, seeing the
// entry's own writes. fn must not write.
func (tx *Tx) iterate(prefix []byte, keysOnly bool, fn func(k, v []byte) error) error {
	return tx.iterateFrom(prefix, prefix, keysOnly, fn)
}

// iterateFrom is iterate starting at the first key at or after from.
func (tx *Tx) iterateFrom(prefix, from []byte, keysOnly bool, fn func(k, v []byte) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.PrefetchValues = !keysOnly
	it := tx.b.txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(from); it.Valid(); it.Next() {
		item := it.Item()
		var v []byte
		if !keysOnly {
			var err error
			if v, err = item.ValueCopy(nil); err != nil {
				tx.fatal = err
				return err
			}
		}
		if err := fn(item.KeyCopy(nil), v); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

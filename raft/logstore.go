// The Raft log and stable store live in their own Badger directory, apart
// from the FSM state, because they have opposite durability needs: every
// write here is fsynced before Raft acknowledges it, while state writes may
// be lost and replayed from this log. Only hashicorp/raft writes to it.

package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	hraft "github.com/hashicorp/raft"
	"github.com/herald-webhooks/herald/storage"
	"github.com/rs/zerolog"
)

var (
	// ErrLogStoreClosed is returned by LogStore writes after Close.
	ErrLogStoreClosed = errors.New("raft log store closed")
	// ErrCorruptLogEntry is returned when a stored Raft log entry cannot be decoded.
	ErrCorruptLogEntry = errors.New("corrupt raft log entry")
)

const (
	logKeyPrefix    = "l/"
	stableKeyPrefix = "s/"
	logKeyLen       = len(logKeyPrefix) + 8

	// logEntryVersion leads every encoded entry so the format can evolve
	// without guessing what an old directory contains.
	logEntryVersion = 1

	// logEntryOverhead bounds the encoded size of everything but Data and
	// Extensions: version, type and five varints.
	logEntryOverhead = 1 + 1 + 5*binary.MaxVarintLen64

	logStoreGCInterval     = 5 * time.Minute
	logStoreGCDiscardRatio = 0.5
)

// Compile-time proof that LogStore is what hashicorp/raft expects.
var (
	_ hraft.LogStore    = (*LogStore)(nil)
	_ hraft.StableStore = (*LogStore)(nil)
)

// LogStore is a Badger-backed hashicorp/raft LogStore and StableStore.
type LogStore struct {
	db  *badger.DB
	log zerolog.Logger

	// writeMu serialises StoreLogs, DeleteRange and Close so the cached
	// bounds always describe what is on disk once a writer returns.
	writeMu sync.Mutex
	// first and last cache the log bounds: raft asks for them on every
	// append and replication round, and a Badger seek costs far more.
	first atomic.Uint64
	last  atomic.Uint64

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	stopGC    chan struct{}
	gcDone    chan struct{}
	gcPasses  atomic.Uint64 // completed GC passes; lets tests see the loop run
	written   atomic.Int64  // bytes of entries stored since open (the snapshot policy reads it)
	// diskCheck, when set, refuses new entries while the disk is full
	// (see Config.DiskCheck); set before raft starts.
	diskCheck func() error
}

// OpenLogStore opens (or creates) the Raft log store in dir.
func OpenLogStore(dir string, log zerolog.Logger) (*LogStore, error) {
	return openLogStore(dir, log, logStoreGCInterval)
}

func openLogStore(dir string, log zerolog.Logger, gcInterval time.Duration) (*LogStore, error) {
	if err := storage.DropEmptyMemtables(dir, log); err != nil {
		return nil, fmt.Errorf("open raft log store: %w", err)
	}
	db, err := badger.Open(logStoreOptions(dir, log))
	if err != nil {
		return nil, fmt.Errorf("open raft log store: %w", err)
	}
	s := &LogStore{
		db:     db,
		log:    log,
		stopGC: make(chan struct{}),
		gcDone: make(chan struct{}),
	}
	if err := s.loadBounds(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open raft log store: %w", err)
	}
	go s.runValueLogGC(gcInterval)
	return s, nil
}

// logStoreOptions tunes Badger for a short, append-mostly log that is
// truncated from the front after every snapshot, so it stays small.
func logStoreOptions(dir string, log zerolog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		// An entry Raft considers stored must survive power loss.
		WithSyncWrites(true).
		WithLogger(storage.NewBadgerLogger(log.With().Str("subsystem", "badger").Logger())).
		WithNumVersionsToKeep(1).
		// Every write is a blind put or delete by one writer, so conflict
		// tracking would only cost memory per key.
		WithDetectConflicts(false).
		// 16 MiB memtables (default 64 MiB) x 3 (default 5) cap write
		// buffering at 48 MiB. Badger limits a transaction to 15% of a
		// memtable (~2.4 MiB), which still holds a 1024-entry group commit
		// of 1 KiB entries; bigger batches are split by StoreLogs.
		WithMemTableSize(16 << 20).
		WithNumMemtables(3).
		// Small commands stay in the LSM tree (one read, no GC needed);
		// large group-commit batches go to the value log, written once and
		// reclaimed by value-log GC after compaction drops their keys.
		WithValueThreshold(4 << 10).
		// GC reclaims whole files, so smaller files free disk sooner after
		// the log is truncated (default 1 GiB).
		WithValueLogFileSize(64 << 20).
		// The hot path (WAL and value log) is never compressed anyway, and
		// Badger only needs a block cache to avoid re-decompressing blocks;
		// without compression, reads go straight to the mmapped tables.
		WithCompression(options.None).
		WithBlockCacheSize(0).
		// The log is small, so this keeps every index cached in practice
		// while bounding memory if snapshots stall and the log grows.
		WithIndexCacheSize(8 << 20).
		// Two compactors (the minimum) suffice for a single small log.
		WithNumCompactors(2)
}

// Close stops value-log GC and closes Badger; calling it again is a no-op.
func (s *LogStore) Close() error {
	s.closeOnce.Do(func() {
		close(s.stopGC)
		<-s.gcDone
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		s.closed.Store(true)
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close raft log store: %w", err)
		}
	})
	return s.closeErr
}

// FirstIndex returns the first index written, or 0 if the log is empty.
func (s *LogStore) FirstIndex() (uint64, error) {
	return s.first.Load(), nil
}

// LastIndex returns the last index written, or 0 if the log is empty.
func (s *LogStore) LastIndex() (uint64, error) {
	return s.last.Load(), nil
}

// GetLog reads the entry at index into l, or returns hraft.ErrLogNotFound.
func (s *LogStore) GetLog(index uint64, l *hraft.Log) error {
	var key [logKeyLen]byte
	putLogKey(key[:], index)
	var val []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key[:])
		if err != nil {
			return err
		}
		// One copy out of Badger's mmap; Data and Extensions alias it.
		val, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return hraft.ErrLogNotFound
	}
	if err == nil {
		err = decodeLogEntry(val, l)
	}
	if err != nil {
		return fmt.Errorf("get raft log %d: %w", index, err)
	}
	return nil
}

// StoreLog stores a single entry.
func (s *LogStore) StoreLog(l *hraft.Log) error {
	return s.StoreLogs([]*hraft.Log{l})
}

// StoreLogs stores entries durably, with one fsync per Badger transaction.
func (s *LogStore) StoreLogs(logs []*hraft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	// Badger keeps references to keys and values until commit, so each
	// needs its own bytes: carve them all from one allocation, and the
	// entries from another, instead of two allocations per entry.
	size := 0
	for _, l := range logs {
		// FirstIndex reports 0 for an empty log, so index 0 cannot be stored;
		// raft numbers entries from 1.
		if l.Index == 0 {
			return errors.New("store raft logs: index 0")
		}
		size += logKeyLen + logEntryOverhead + len(l.Data) + len(l.Extensions)
	}
	arena := make([]byte, 0, size)
	entries := make([]badger.Entry, len(logs))
	for i, l := range logs {
		start := len(arena)
		arena = appendLogKey(arena, l.Index)
		mid := len(arena)
		arena = appendLogEntry(arena, l)
		end := len(arena)
		entries[i] = badger.Entry{Key: arena[start:mid:mid], Value: arena[mid:end:end]}
	}

	if s.diskCheck != nil {
		// A follower's disk may fill while the leader's has room: it
		// refuses the entries (raft retries them) rather than fault.
		if err := s.diskCheck(); err != nil {
			return fmt.Errorf("store raft logs: %w", err)
		}
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed.Load() {
		return ErrLogStoreClosed
	}
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	lo, hi := uint64(math.MaxUint64), uint64(0)
	for i := range entries {
		err := txn.SetEntry(&entries[i])
		if errors.Is(err, badger.ErrTxnTooBig) {
			// A batch bigger than one Badger transaction is committed in
			// order, so a crash part-way leaves a gap-free prefix, which
			// Raft handles like any shorter log.
			if err := s.commitLogs(txn, lo, hi); err != nil {
				return err
			}
			txn = s.db.NewTransaction(true)
			lo, hi = math.MaxUint64, 0
			err = txn.SetEntry(&entries[i])
		}
		if err != nil {
			return fmt.Errorf("store raft logs: %w", err)
		}
		lo, hi = min(lo, logs[i].Index), max(hi, logs[i].Index)
	}
	if err := s.commitLogs(txn, lo, hi); err != nil {
		return err
	}
	s.written.Add(int64(size))
	return nil
}

// Written returns the bytes of log entries this store has stored since it
// was opened.
func (s *LogStore) Written() int64 { return s.written.Load() }

// BytesAfter returns the stored size of the entries after index, counted
// like Written (keys only are read).
func (s *LogStore) BytesAfter(index uint64) (int64, error) {
	var n int64
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte(logKeyPrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(logKey(index + 1)); it.Valid(); it.Next() {
			n += int64(logKeyLen) + it.Item().ValueSize()
		}
		return nil
	})
	return n, err
}

// commitLogs commits txn and widens the cached bounds to [lo, hi] only once
// the entries are on disk. The caller holds writeMu.
func (s *LogStore) commitLogs(txn *badger.Txn, lo, hi uint64) error {
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("store raft logs: %w", err)
	}
	if first := s.first.Load(); first == 0 || lo < first {
		s.first.Store(lo)
	}
	if hi > s.last.Load() {
		s.last.Store(hi)
	}
	return nil
}

// DeleteRange deletes the entries from minIdx to maxIdx inclusive.
func (s *LogStore) DeleteRange(minIdx, maxIdx uint64) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed.Load() {
		return ErrLogStoreClosed
	}
	first, last := s.first.Load(), s.last.Load()
	lo, hi := max(minIdx, first), min(maxIdx, last)
	if first == 0 || lo > hi {
		return nil
	}
	err := s.deleteRange(lo, hi)
	// Re-read the bounds even after a failure: the delete is committed in
	// chunks, and part of the range may be gone. A prefix or suffix delete
	// may also expose a gap, so arithmetic on the old bounds is not enough.
	if berr := s.loadBounds(); err == nil {
		err = berr
	}
	if err != nil {
		return fmt.Errorf("delete raft logs %d-%d: %w", minIdx, maxIdx, err)
	}
	return nil
}

// deleteRange deletes the keys that exist in [lo, hi]; compaction can cover
// many thousands of entries, which a WriteBatch commits in as many
// transactions as Badger's size limit requires.
func (s *LogStore) deleteRange(lo, hi uint64) error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(logKeyPrefix)})
	defer it.Close()

	// WriteBatch holds keys until its asynchronous commits finish, and the
	// iterator reuses its key buffer, so keys are copied into chunks.
	const chunkKeys = 4096
	var chunk []byte
	for it.Seek(logKey(lo)); it.Valid(); it.Next() {
		key := it.Item().Key()
		if indexFromLogKey(key) > hi {
			break
		}
		if len(chunk)+logKeyLen > cap(chunk) {
			chunk = make([]byte, 0, chunkKeys*logKeyLen)
		}
		start := len(chunk)
		chunk = append(chunk, key...)
		if err := wb.Delete(chunk[start:len(chunk):len(chunk)]); err != nil {
			return err
		}
	}
	return wb.Flush()
}

// loadBounds sets the cached bounds from disk with two key-only seeks.
func (s *LogStore) loadBounds() error {
	return s.db.View(func(txn *badger.Txn) error {
		opts := badger.IteratorOptions{Prefix: []byte(logKeyPrefix)}
		it := txn.NewIterator(opts)
		it.Rewind()
		if !it.Valid() {
			it.Close()
			s.first.Store(0)
			s.last.Store(0)
			return nil
		}
		first := indexFromLogKey(it.Item().Key())
		it.Close()

		// A reverse Rewind would seek to the bare prefix, which sorts
		// before every entry; seek to the highest possible key instead.
		opts.Reverse = true
		it = txn.NewIterator(opts)
		defer it.Close()
		it.Seek(logKey(math.MaxUint64))
		if !it.Valid() {
			return errors.New("log bounds: no last entry after a first one")
		}
		s.first.Store(first)
		s.last.Store(indexFromLogKey(it.Item().Key()))
		return nil
	})
}

// Set stores a stable-store key.
func (s *LogStore) Set(key, val []byte) error {
	k := stableKey(key)
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(k, val) }); err != nil {
		return fmt.Errorf("set raft stable key %q: %w", key, err)
	}
	return nil
}

// Get returns a stable-store key, or an empty slice if it was never set.
func (s *LogStore) Get(key []byte) ([]byte, error) {
	var val []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(stableKey(key))
		if err != nil {
			return err
		}
		val, err = item.ValueCopy(nil)
		return err
	})
	// hashicorp/raft reads an empty value as "never set" (no vote cast yet).
	if errors.Is(err, badger.ErrKeyNotFound) {
		return []byte{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get raft stable key %q: %w", key, err)
	}
	if val == nil {
		val = []byte{}
	}
	return val, nil
}

// SetUint64 stores a stable-store key holding an integer.
func (s *LogStore) SetUint64(key []byte, val uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], val)
	return s.Set(key, b[:])
}

// GetUint64 returns an integer stable-store key, or 0 if it was never set.
func (s *LogStore) GetUint64(key []byte) (uint64, error) {
	val, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	switch len(val) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(val), nil
	default:
		return 0, fmt.Errorf("get raft stable key %q: %d bytes, want 8", key, len(val))
	}
}

// runValueLogGC reclaims value-log files whose entries were deleted by log
// compaction; Badger never does this on its own.
func (s *LogStore) runValueLogGC(interval time.Duration) {
	defer close(s.gcDone)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-s.stopGC:
			return
		case <-ticker.C:
		}
		// Each successful call rewrites one file; keep going until Badger
		// finds nothing worth rewriting, but let Close interrupt.
		for {
			select {
			case <-s.stopGC:
				return
			default:
			}
			err := s.db.RunValueLogGC(logStoreGCDiscardRatio)
			if err == nil {
				continue
			}
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				s.log.Warn().Err(err).Msg("raft log value-log gc failed")
			}
			break
		}
		s.gcPasses.Add(1)
	}
}

// appendLogEntry appends the on-disk encoding of l: a version byte, uvarint
// index and term, a type byte, length-prefixed data and extensions, and the
// append time as varint Unix nanoseconds (0 for the zero time).
func appendLogEntry(dst []byte, l *hraft.Log) []byte {
	dst = append(dst, logEntryVersion)
	dst = binary.AppendUvarint(dst, l.Index)
	dst = binary.AppendUvarint(dst, l.Term)
	dst = append(dst, byte(l.Type))
	dst = binary.AppendUvarint(dst, uint64(len(l.Data)))
	dst = append(dst, l.Data...)
	dst = binary.AppendUvarint(dst, uint64(len(l.Extensions)))
	dst = append(dst, l.Extensions...)
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	return binary.AppendVarint(dst, at)
}

// decodeLogEntry decodes b into l. Data and Extensions alias b.
func decodeLogEntry(b []byte, l *hraft.Log) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty", ErrCorruptLogEntry)
	}
	if b[0] != logEntryVersion {
		return fmt.Errorf("%w: unknown version %d", ErrCorruptLogEntry, b[0])
	}
	b = b[1:]
	index, n := binary.Uvarint(b)
	if n <= 0 {
		return fmt.Errorf("%w: bad index", ErrCorruptLogEntry)
	}
	b = b[n:]
	term, n := binary.Uvarint(b)
	if n <= 0 {
		return fmt.Errorf("%w: bad term", ErrCorruptLogEntry)
	}
	b = b[n:]
	if len(b) == 0 {
		return fmt.Errorf("%w: missing type", ErrCorruptLogEntry)
	}
	typ := hraft.LogType(b[0])
	b = b[1:]
	data, b, err := takeLengthPrefixed(b, "data")
	if err != nil {
		return err
	}
	ext, b, err := takeLengthPrefixed(b, "extensions")
	if err != nil {
		return err
	}
	at, n := binary.Varint(b)
	if n <= 0 {
		return fmt.Errorf("%w: bad append time", ErrCorruptLogEntry)
	}
	if len(b) != n {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorruptLogEntry, len(b)-n)
	}
	*l = hraft.Log{Index: index, Term: term, Type: typ, Data: data, Extensions: ext}
	if at != 0 {
		l.AppendedAt = time.Unix(0, at)
	}
	return nil
}

// takeLengthPrefixed splits a uvarint-length-prefixed field off b. The field
// is capped so appending to it can never overwrite the bytes after it.
func takeLengthPrefixed(b []byte, field string) (val, rest []byte, err error) {
	size, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, nil, fmt.Errorf("%w: bad %s length", ErrCorruptLogEntry, field)
	}
	b = b[n:]
	if size > uint64(len(b)) {
		return nil, nil, fmt.Errorf("%w: %s length %d exceeds %d remaining bytes",
			ErrCorruptLogEntry, field, size, len(b))
	}
	if size == 0 {
		return nil, b, nil
	}
	return b[:size:size], b[size:], nil
}

func appendLogKey(dst []byte, index uint64) []byte {
	dst = append(dst, logKeyPrefix...)
	return binary.BigEndian.AppendUint64(dst, index)
}

func putLogKey(dst []byte, index uint64) {
	copy(dst, logKeyPrefix)
	binary.BigEndian.PutUint64(dst[len(logKeyPrefix):], index)
}

func logKey(index uint64) []byte {
	return appendLogKey(make([]byte, 0, logKeyLen), index)
}

func indexFromLogKey(key []byte) uint64 {
	return binary.BigEndian.Uint64(key[len(logKeyPrefix):])
}

func stableKey(key []byte) []byte {
	k := make([]byte, 0, len(stableKeyPrefix)+len(key))
	return append(append(k, stableKeyPrefix...), key...)
}

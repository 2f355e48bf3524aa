package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/rs/zerolog"
)

// Sentinel errors returned by reads and by the write operations the FSM runs.
// The FSM returns the business ones to the API as values; none of them is a
// reason to stop applying the log.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrUIDTaken     = errors.New("uid already in use")
	ErrEventIDTaken = errors.New("event id already used")
	ErrClosed       = errors.New("store closed")
)

// Store is the replicated state of one node: a Badger database written only
// by the Raft FSM and read by everything else. Its writes are not synced:
// the Raft log is the source of truth, and every batch records the Raft index
// it applied, so a restart replays only what the state has not seen.
type Store struct {
	// mu is held shared by every reader and by the FSM's writer, and held
	// exclusively only while Restore swaps the database underneath.
	mu      sync.RWMutex
	db      *badger.DB
	dir     string
	log     zerolog.Logger
	applied atomic.Uint64
	closed  bool
	// snapshots counts the Snapshots taken and not yet released.
	snapshots atomic.Int64

	stopGC chan struct{}
	gcDone chan struct{}

	// appEp caches each application's endpoints for the FSM's fan-out
	// (see Tx.appEndpoints). Only the FSM goroutine uses it; the mutex
	// keeps tests that apply from several goroutines honest.
	epMu  sync.Mutex
	appEp map[string][]Endpoint

	// apps and endpoints cache lookups for the hot paths (ingest and
	// dispatch; see CachedApp, CachedEndpoint).
	apps      readCache[App]
	endpoints readCache[Endpoint]
}

// A readCache holds records read from the state until a committed write to
// a record of their kind: the batch moves the generation on after its
// commit, which invalidates every entry at once. Applications and endpoints
// change rarely, so a coarse invalidation costs little.
type readCache[V any] struct {
	gen atomic.Uint64
	mu  sync.Mutex
	m   map[string]cachedRecord[V]
}

type cachedRecord[V any] struct {
	v   V
	gen uint64
}

// get returns the cached value for key, or loads and caches it. The
// generation is read before loading: a write committed meanwhile moves it
// on, so the value stored is then already invalid and never served.
func (c *readCache[V]) get(key string, load func() (V, error)) (V, error) {
	gen := c.gen.Load()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && e.gen == gen {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedRecords {
		c.m = make(map[string]cachedRecord[V])
	}
	c.m[key] = cachedRecord[V]{v: v, gen: gen}
	c.mu.Unlock()
	return v, nil
}

// invalidate drops every entry; call it after the write is committed.
func (c *readCache[V]) invalidate() { c.gen.Add(1) }

// maxCachedRecords bounds each read cache; past it the cache starts over.
const maxCachedRecords = 10000

func (s *Store) cachedEndpoints(appID string) ([]Endpoint, bool) {
	s.epMu.Lock()
	defer s.epMu.Unlock()
	eps, ok := s.appEp[appID]
	return eps, ok
}

func (s *Store) cacheEndpoints(appID string, eps []Endpoint) {
	s.epMu.Lock()
	defer s.epMu.Unlock()
	if s.appEp == nil || len(s.appEp) >= maxCachedRecords {
		s.appEp = make(map[string][]Endpoint)
	}
	s.appEp[appID] = eps
}

// forgetEndpoints drops the cached endpoints of the app an endpoint key
// (ep/<appID>/<epID>) belongs to; an empty appID drops them all.
func (s *Store) forgetEndpoints(appID string) {
	s.epMu.Lock()
	defer s.epMu.Unlock()
	if appID == "" {
		s.appEp = nil
		return
	}
	delete(s.appEp, appID)
}

// CachedApp returns an application by id or uid, as Reader.App does, from
// a cache: every message names its app. The caller must not modify the
// App's Metadata map, which the cache shares.
func (s *Store) CachedApp(idOrUID string) (App, error) {
	return s.apps.get(idOrUID, func() (a App, err error) {
		err = s.View(func(r *Reader) error { a, err = r.App(idOrUID); return err })
		return a, err
	})
}

// CachedEndpoint returns an endpoint by id or uid, as Reader.Endpoint does,
// from a cache: every delivery attempt reads its endpoint. The caller must
// not modify the Endpoint's maps and slices, which the cache shares.
func (s *Store) CachedEndpoint(appID, idOrUID string) (Endpoint, error) {
	return s.endpoints.get(appID+"/"+idOrUID, func() (ep Endpoint, err error) {
		err = s.View(func(r *Reader) error { ep, err = r.Endpoint(appID, idOrUID); return err })
		return ep, err
	})
}

// DefaultGCInterval is how often value-log garbage collection runs unless
// OpenGC is told otherwise.
const DefaultGCInterval = 5 * time.Minute

// Open opens (or creates) the state database in dir, with value-log
// garbage collection every DefaultGCInterval.
func Open(dir string, log zerolog.Logger) (*Store, error) {
	return OpenGC(dir, log, DefaultGCInterval)
}

// OpenGC opens (or creates) the state database in dir and runs value-log
// garbage collection every gcInterval. A restore interrupted by a crash is
// finished or rolled back first (see finishSwap).
func OpenGC(dir string, log zerolog.Logger, gcInterval time.Duration) (*Store, error) {
	if err := finishSwap(dir); err != nil {
		return nil, fmt.Errorf("open state store: %w", err)
	}
	db, err := openBadger(dir, log)
	if err != nil {
		return nil, fmt.Errorf("open state store: %w", err)
	}
	s := &Store{db: db, dir: dir, log: log}
	if err := s.loadApplied(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open state store: %w", err)
	}
	s.startGC(gcInterval)
	return s, nil
}

// valueThreshold is the value size from which Badger keeps values in its
// value log rather than in the LSM tree.
const valueThreshold = 256

func openBadger(dir string, log zerolog.Logger) (*badger.DB, error) {
	if err := DropEmptyMemtables(dir, log); err != nil {
		return nil, err
	}
	opts := badger.DefaultOptions(dir).
		WithLogger(NewBadgerLogger(log)).
		WithSyncWrites(false).
		// Only the FSM writes, one transaction at a time: conflict
		// detection would cost memory and CPU for nothing.
		WithDetectConflicts(false).
		WithNumVersionsToKeep(1).
		// Payloads and response bodies go to the value log so compactions
		// move small keys, not kilobytes of JSON.
		WithValueThreshold(valueThreshold).
		// Memory is bounded for a node holding a large backlog: 16 MiB
		// memtables (at most 3 resident), a 32 MiB block cache for the
		// compressed tables and 16 MiB of table indexes. Reads on the hot
		// paths are point lookups of recent keys, mostly in memtables.
		WithBlockCacheSize(32 << 20).
		WithIndexCacheSize(16 << 20).
		WithMemTableSize(16 << 20).
		WithNumMemtables(3).
		// Smaller value-log files are reclaimed by GC sooner once their
		// payloads are deleted or compacted away.
		WithValueLogFileSize(128 << 20).
		// Each compactor holds table-building buffers while it works: two
		// (the minimum) keep the peaks of a large backlog's compactions
		// down.
		WithNumCompactors(2)
	// Tables of one size on every level. Badger builds each table in memory
	// before writing it, several at once per compaction, and by default
	// doubles the table size at each level: with a backlog deep enough to
	// reach the lower levels, compactions held 100-200 MiB of buffers,
	// pushing the heap to the memory limit, where the GC ran without pause
	// and deliveries slowed to a fifth (docs/BENCHMARKS.md).
	opts.TableSizeMultiplier = 1
	return badger.Open(opts)
}

func (s *Store) loadApplied() error {
	return s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(pApplied))
		if errors.Is(err, badger.ErrKeyNotFound) {
			s.applied.Store(0)
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 8 {
				return ErrCorrupt
			}
			s.applied.Store(binary.BigEndian.Uint64(v))
			return nil
		})
	})
}

// AppliedIndex returns the Raft index of the last entry the state holds.
func (s *Store) AppliedIndex() uint64 { return s.applied.Load() }

// Dir returns the state directory.
func (s *Store) Dir() string { return s.dir }

// Sync flushes the state to disk. The FSM calls it before a snapshot is
// taken, because Raft may then drop the log entries the state came from.
func (s *Store) Sync() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.db.Sync()
}

// Close closes the database. It is safe to call twice.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.stopGC)
	<-s.gcDone
	return s.db.Close()
}

// View runs fn with a consistent read-only view of the state.
func (s *Store) View(fn func(r *Reader) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	return fn(&Reader{txn: txn})
}

// startGC runs Badger's value-log garbage collection in the background:
// delivered payloads and expired records leave garbage that only this
// reclaims.
func (s *Store) startGC(interval time.Duration) {
	s.stopGC = make(chan struct{})
	s.gcDone = make(chan struct{})
	go func() {
		defer close(s.gcDone)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stopGC:
				return
			case <-t.C:
				s.runGC()
			}
		}
	}()
}

func (s *Store) runGC() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for range 16 {
		if s.db.RunValueLogGC(0.5) != nil {
			return
		}
	}
}

// Restore replaces the whole state with the snapshot read by load, which
// writes into a fresh database in a sibling directory. The swap happens only
// once that database is complete, under the exclusive lock.
func (s *Store) Restore(load func(db *badger.DB) error) error {
	tmp := s.dir + ".restore"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("restore state: %w", err)
	}
	fresh, err := openBadger(tmp, s.log)
	if err != nil {
		return fmt.Errorf("restore state: %w", err)
	}
	if err := load(fresh); err != nil {
		_ = fresh.Close()
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("restore state: %w", err)
	}
	if err := fresh.Sync(); err != nil {
		_ = fresh.Close()
		return fmt.Errorf("restore state: %w", err)
	}
	if err := fresh.Close(); err != nil {
		return fmt.Errorf("restore state: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("restore state: close old: %w", err)
	}
	old := s.dir + ".old"
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("restore state: %w", err)
	}
	if err := os.Rename(s.dir, old); err != nil {
		return fmt.Errorf("restore state: %w", err)
	}
	if err := os.Rename(tmp, s.dir); err != nil {
		return fmt.Errorf("restore state: %w", err)
	}
	if err := syncDir(filepath.Dir(s.dir)); err != nil {
		return fmt.Errorf("restore state: %w", err)
	}
	_ = os.RemoveAll(old)
	db, err := openBadger(s.dir, s.log)
	if err != nil {
		return fmt.Errorf("restore state: reopen: %w", err)
	}
	s.db = db
	s.forgetEndpoints("")
	s.apps.invalidate()
	s.endpoints.invalidate()
	if err := s.loadApplied(); err != nil {
		return fmt.Errorf("restore state: %w", err)
	}
	return nil
}

// finishSwap completes or undoes a Restore that a crash interrupted. The
// restored copy is renamed into place only after it is complete, so:
// dir missing and dir.restore present means the second rename did not
// happen; dir missing and only dir.old present means the first rename did;
// dir present means any dir.restore is an unfinished load.
func finishSwap(dir string) error {
	tmp, old := dir+".restore", dir+".old"
	if exists(dir) {
		if err := os.RemoveAll(tmp); err != nil {
			return err
		}
		return os.RemoveAll(old)
	}
	switch {
	case exists(tmp):
		if err := os.Rename(tmp, dir); err != nil {
			return err
		}
	case exists(old):
		if err := os.Rename(old, dir); err != nil {
			return err
		}
	}
	return os.RemoveAll(old)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// errStop ends an iteration early without being an error.
var errStop = errors.New("stop iteration")

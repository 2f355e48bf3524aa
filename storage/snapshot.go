package storage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/dgraph-io/badger/v4"
)

// snapshotMagic starts every state snapshot; the trailing digit is the
// format version.
var snapshotMagic = []byte("HERALDS1")

// Snapshot is a point-in-time copy of the state, taken cheaply (a Badger
// read transaction) and written out later by WriteTo while the FSM goes on
// applying. Badger's own Backup is not used because, outside managed mode,
// its parallel producers each open their own transaction, so the copy would
// not be a single point in time.
type Snapshot struct {
	s   *Store
	txn *badger.Txn
}

// Snapshot captures the current state. The caller must Release it.
func (s *Store) Snapshot() (*Snapshot, error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	s.snapshots.Add(1)
	return &Snapshot{s: s, txn: s.db.NewTransaction(false)}, nil
}

// OpenSnapshots is how many snapshots are taken and not yet released: each
// holds a read transaction (Badger keeps what it reads) and the store's
// shared lock (a Restore waits for it).
func (s *Store) OpenSnapshots() int64 { return s.snapshots.Load() }

// AppliedIndex returns the Raft index the snapshot holds.
func (sn *Snapshot) AppliedIndex() uint64 {
	item, err := sn.txn.Get([]byte(pApplied))
	if err != nil {
		return 0
	}
	var idx uint64
	_ = item.Value(func(v []byte) error {
		if len(v) == 8 {
			idx = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return idx
}

// WriteTo streams every key and value: the magic, the applied index (8
// bytes big-endian, so a node can tell how far a snapshot goes without
// reading it all), then (uvarint key length, key, uvarint value length,
// value) records, then a zero key length.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	n := int64(0)
	write := func(b []byte) error {
		m, err := bw.Write(b)
		n += int64(m)
		return err
	}
	if err := write(snapshotMagic); err != nil {
		return n, err
	}
	if err := write(binary.BigEndian.AppendUint64(nil, sn.AppliedIndex())); err != nil {
		return n, err
	}
	it := sn.txn.NewIterator(badger.DefaultIteratorOptions)
	defer it.Close()
	var hdr [binary.MaxVarintLen64]byte
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		if err := write(hdr[:binary.PutUvarint(hdr[:], uint64(len(k)))]); err != nil {
			return n, err
		}
		if err := write(k); err != nil {
			return n, err
		}
		err := item.Value(func(v []byte) error {
			if err := write(hdr[:binary.PutUvarint(hdr[:], uint64(len(v)))]); err != nil {
				return err
			}
			return write(v)
		})
		if err != nil {
			return n, err
		}
	}
	if err := write([]byte{0}); err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// Release ends the snapshot's read transaction.
func (sn *Snapshot) Release() {
	if sn.txn != nil {
		sn.txn.Discard()
		sn.txn = nil
		sn.s.snapshots.Add(-1)
		sn.s.mu.RUnlock()
	}
}

// RestoreFrom replaces the state with a snapshot written by WriteTo.
func (s *Store) RestoreFrom(r io.Reader) error {
	return s.Restore(func(db *badger.DB) error { return loadSnapshot(db, r) })
}

// SnapshotIndex reads the applied index from the head of a snapshot
// written by WriteTo.
func SnapshotIndex(r io.Reader) (uint64, error) {
	head := make([]byte, len(snapshotMagic)+8)
	if _, err := io.ReadFull(r, head); err != nil || !bytes.Equal(head[:len(snapshotMagic)], snapshotMagic) {
		return 0, fmt.Errorf("not a state snapshot: %w", ErrCorrupt)
	}
	return binary.BigEndian.Uint64(head[len(snapshotMagic):]), nil
}

func loadSnapshot(db *badger.DB, r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	if _, err := SnapshotIndex(br); err != nil {
		return err
	}
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	readChunk := func() ([]byte, error) {
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, err
		}
		if n > 1<<30 {
			return nil, ErrCorrupt
		}
		b := make([]byte, n)
		_, err = io.ReadFull(br, b)
		return b, err
	}
	for {
		k, err := readChunk()
		if err != nil {
			return fmt.Errorf("read snapshot: %w", errors.Join(err, ErrCorrupt))
		}
		if len(k) == 0 {
			break
		}
		v, err := readChunk()
		if err != nil {
			return fmt.Errorf("read snapshot: %w", errors.Join(err, ErrCorrupt))
		}
		if err := wb.Set(k, v); err != nil {
			return err
		}
	}
	return wb.Flush()
}

package storage

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// BackupFormat names the layout of a backup file: one JSON line (a
// BackupHeader), a state snapshot as Snapshot.WriteTo writes it, then the
// SHA-256 of everything before it (32 bytes).
const BackupFormat = "herald-backup-1"

// BackupHeader describes a backup: where it was taken, how far it goes,
// and which secrets key opens the secrets sealed in it.
type BackupHeader struct {
	Format       string    `json:"format"`
	CreatedAt    time.Time `json:"createdAt"`
	NodeID       string    `json:"nodeId"`
	AppliedIndex uint64    `json:"appliedIndex"`
	// SecretsKeyID is the id of the main key sealing the endpoint secrets
	// (secrets keyring); a restored node must run with that key.
	SecretsKeyID string `json:"secretsKeyId"`
	Version      string `json:"version,omitempty"`
}

// WriteBackupHeader writes h as the first line of a backup.
func WriteBackupHeader(w io.Writer, h BackupHeader) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ReadBackupHeader reads the first line of a backup.
func ReadBackupHeader(r *bufio.Reader) (BackupHeader, error) {
	var h BackupHeader
	line, err := r.ReadBytes('\n')
	if err != nil {
		return h, fmt.Errorf("read backup header: %w", err)
	}
	if err := json.Unmarshal(line, &h); err != nil || h.Format != BackupFormat {
		return h, fmt.Errorf("not a Herald backup (%s): %w", BackupFormat, ErrCorrupt)
	}
	return h, nil
}

// Size estimates the bytes the state occupies: what Badger's tables,
// value logs and memtables have allocated on disk, counted now (Badger's
// own DB.Size is refreshed once a minute, and reads 0 until then). A
// backup is smaller, since it holds only live values, without garbage or
// indexes.
func (s *Store) Size() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0
	}
	var n uint64
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0
	}
	for _, e := range entries {
		switch filepath.Ext(e.Name()) {
		case ".sst", ".vlog", ".mem":
			if info, err := e.Info(); err == nil {
				n += allocated(info)
			}
		}
	}
	return int64(n)
}

package appliance

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/herald-webhooks/herald/config"
	"github.com/herald-webhooks/herald/keyring"
	"github.com/herald-webhooks/herald/raft"
	"github.com/herald-webhooks/herald/storage"
)

// RestoreBackup builds cfg's data directory from a backup: the state from
// its snapshot and a Raft snapshot at the same index naming this node the
// only member, so `herald serve` with cfg then starts a one-node cluster
// holding exactly that state (grow it with --join). The directory must not
// hold a node already, and the node must be configured with the secrets key
// the backup names: the endpoint secrets in it are sealed with it.
func RestoreBackup(cfg config.Config, h storage.BackupHeader, snapshot io.Reader, log zerolog.Logger) error {
	for _, sub := range []string{"raft", "state", "snapshots"} {
		if entries, err := os.ReadDir(filepath.Join(cfg.DataDir, sub)); err == nil && len(entries) > 0 {
			return fmt.Errorf("restore: %s already holds a node (%s/ is not empty); restore into a new data directory", cfg.DataDir, sub)
		}
	}
	if err := checkSecretsKey(cfg, h.SecretsKeyID); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	a := &Appliance{cfg: cfg}
	nodeID, err := a.nodeID()
	if err != nil {
		return err
	}
	raftAddr := cfg.RaftAdvertise
	if raftAddr == "" {
		raftAddr = cfg.RaftAddr
	}
	sink, err := raft.SeedSnapshot(cfg.DataDir, nodeID, raftAddr, h.AppliedIndex)
	if err != nil {
		return err
	}
	store, err := storage.Open(filepath.Join(cfg.DataDir, "state"), log)
	if err != nil {
		_ = sink.Cancel()
		return err
	}
	// One pass: the state loads from the stream while the Raft snapshot
	// keeps a copy of it.
	tee := io.TeeReader(snapshot, sink)
	err = store.RestoreFrom(tee)
	if err == nil {
		_, err = io.Copy(io.Discard, tee) // the Raft copy gets every byte
	}
	if err == nil && store.AppliedIndex() != h.AppliedIndex {
		err = fmt.Errorf("restore: the snapshot holds index %d, the header says %d: %w", store.AppliedIndex(), h.AppliedIndex, storage.ErrCorrupt)
	}
	if err == nil {
		err = store.Sync()
	}
	err = errors.Join(err, store.Close())
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("restore: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("restore: write raft snapshot: %w", err)
	}
	log.Info().Str("node_id", nodeID).Uint64("applied_index", h.AppliedIndex).Str("secrets_key_id", h.SecretsKeyID).Msg("backup restored")
	return nil
}

// checkSecretsKey fails unless cfg's main secrets key (from the config or
// an existing key file; none is created here) is the one with id want.
func checkSecretsKey(cfg config.Config, want string) error {
	path := cfg.SecretsKeyFile
	if path == "" {
		path = filepath.Join(cfg.DataDir, "secrets.key")
	}
	need := fmt.Errorf("restore: this backup's secrets are sealed with secrets key %s: configure that key (secrets_key, or its key file at %s)", want, path)
	var key []byte
	if cfg.SecretsKey != "" {
		k, err := keyring.ParseKey(cfg.SecretsKey)
		if err != nil {
			return fmt.Errorf("secrets_key: %w", err)
		}
		key = k
	} else {
		if _, err := os.Stat(path); err != nil {
			return need
		}
		k, _, err := keyring.LoadOrCreateKeyFile(path)
		if err != nil {
			return fmt.Errorf("secrets key: %w", err)
		}
		key = k
	}
	kr, err := keyring.New(key)
	if err != nil {
		return fmt.Errorf("secrets key: %w", err)
	}
	if want != "" && kr.ID() != want {
		return fmt.Errorf("%w (the configured key is %s)", need, kr.ID())
	}
	return nil
}

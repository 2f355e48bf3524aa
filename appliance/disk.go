package appliance

import (
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/herald-webhooks/herald/config"
	"github.com/herald-webhooks/herald/storage"
)

// newDiskGuard watches the filesystems of the node's two Badger
// directories (raft/ and state/ may be mounted apart) and starts polling.
func newDiskGuard(cfg config.Config, log zerolog.Logger) *storage.DiskGuard {
	st := cfg.Storage
	g := storage.NewDiskGuard([]string{
		filepath.Join(cfg.DataDir, "raft"),
		filepath.Join(cfg.DataDir, "state"),
	}, storage.DiskLimits{
		MinFreeBytes:   uint64(st.MinFreeMiB) << 20,
		MinFreePercent: st.MinFreePercent,
		ReserveBytes:   uint64(st.ReserveMiB) << 20,
	}, log)
	g.Start(st.DiskCheckInterval.Duration)
	return g
}

package appliance

import (
	"path/filepath"

	"github.com/VictoriaMetrics/metrics"
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
		SpareFile:      filepath.Join(cfg.DataDir, "spare"),
		SpareBytes:     uint64(st.SpareMiB) << 20,
	}, log)
	g.Start(st.DiskCheckInterval.Duration)
	return g
}

// diskMetrics adds the node's disk, log and retention gauges to set.
func (a *Appliance) diskMetrics(set *metrics.Set) {
	for i, name := range []string{"raft", "state"} {
		usage := func(f func(u storage.DirUsage) float64) func() float64 {
			return func() float64 {
				if u := a.disk.Usage(); i < len(u) {
					return f(u[i])
				}
				return 0
			}
		}
		set.NewGauge(`herald_disk_free_bytes{dir="`+name+`"}`, usage(func(u storage.DirUsage) float64 { return float64(u.FreeBytes) }))
		set.NewGauge(`herald_disk_total_bytes{dir="`+name+`"}`, usage(func(u storage.DirUsage) float64 { return float64(u.TotalBytes) }))
		set.NewGauge(`herald_disk_used_bytes{dir="`+name+`"}`, usage(func(u storage.DirUsage) float64 { return float64(u.UsedBytes) }))
	}
	// 0 accepting, 1 refusing client writes (507), 2 refusing every entry.
	set.NewGauge(`herald_disk_write_refusal`, func() float64 { return float64(a.disk.Level()) })
	set.NewGauge(`herald_raft_log_entries`, func() float64 { return float64(a.node.LogEntries()) })
	set.NewGauge(`herald_raft_last_snapshot_timestamp_seconds`, func() float64 {
		at, _ := a.node.LastSnapshot()
		if at.IsZero() {
			return 0
		}
		return float64(at.UnixMilli()) / 1000
	})
	set.NewGauge(`herald_retention_oldest_message_age_seconds`, func() float64 {
		var st storage.RetentionStats
		_ = a.store.View(func(r *storage.Reader) error { st = r.RetentionStats(oldestScanApps); return nil })
		if st.OldestMessage.IsZero() {
			return 0
		}
		return a.now().Sub(st.OldestMessage).Seconds()
	})
}

// oldestScanApps bounds the applications a scrape looks at for the oldest
// message.
const oldestScanApps = 10000

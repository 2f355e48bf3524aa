package storage

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Errors of the disk guard: a write refused because the filesystem holding
// the data is nearly full. Neither is a fault of the node; both clear by
// themselves once space is freed.
var (
	// ErrDiskLow refuses new client writes: free space is under the write
	// threshold, and what is left is kept for delivery outcomes, expiry
	// and deletes.
	ErrDiskLow = errors.New("insufficient storage: free space under the write threshold")
	// ErrDiskFull refuses every new Raft entry: free space is under the
	// reserve, the last room Badger's memory-mapped files may grow into.
	ErrDiskFull = errors.New("insufficient storage: free space under the reserve")
)

// DiskLevel is how close to full the data's filesystems are.
type DiskLevel int32

// Disk levels, from healthy to refusing everything.
const (
	// DiskOK accepts every write.
	DiskOK DiskLevel = iota
	// DiskLow refuses client writes; outcomes, expiry and deletes go on.
	DiskLow
	// DiskFull refuses every new log entry.
	DiskFull
)

// String names the level as /metrics and the cluster view show it.
func (l DiskLevel) String() string {
	switch l {
	case DiskLow:
		return "refusing_writes"
	case DiskFull:
		return "full"
	}
	return "ok"
}

// DiskLimits are the free-space thresholds of the guard.
type DiskLimits struct {
	// MinFreeBytes and MinFreePercent: client writes are refused while the
	// free space is under either (the larger of the two counts).
	MinFreeBytes   uint64
	MinFreePercent float64
	// ReserveBytes: under this much free space nothing new is written.
	// Badger writes through memory-mapped files, which fault (SIGBUS)
	// rather than fail when the filesystem is full, so the reserve must
	// stay untouched: it is the room compactions and the entries already
	// accepted may still use.
	ReserveBytes uint64
	// SpareFile, when set, is the spare file's path, and SpareBytes its
	// size (see spare.go). The spare's size is taken off the free space
	// of the filesystem it is on, whether the file is there or not.
	SpareFile  string
	SpareBytes uint64
}

// DirUsage is what the guard last saw of one data directory.
type DirUsage struct {
	Dir        string
	TotalBytes uint64 // the filesystem's size
	FreeBytes  uint64 // available to this process
	UsedBytes  uint64 // the directory's own files
	Level      DiskLevel
}

// DiskGuard watches the filesystems holding the data directories and says
// which writes may still be made. Checks are an atomic load; the
// filesystems are polled in the background (statfs is cheap), and often
// enough that the space between the thresholds cannot be used up between
// two polls.
type DiskGuard struct {
	dirs   []string
	limits DiskLimits
	log    zerolog.Logger
	statfs func(dir string) (total, free uint64, err error)
	// onSpareFS[i] tells whether dirs[i] is on the spare's filesystem.
	onSpareFS []bool
	spareMu   sync.Mutex // serialises releasing and writing the spare

	level atomic.Int32
	mu    sync.Mutex
	usage []DirUsage
	polls uint64

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// NewDiskGuard returns a guard over dirs, having checked them once.
func NewDiskGuard(dirs []string, limits DiskLimits, log zerolog.Logger) *DiskGuard {
	g := &DiskGuard{dirs: dirs, limits: limits, log: log, statfs: statfs}
	if limits.SpareFile != "" {
		_ = os.Remove(limits.SpareFile + ".tmp") // a write a crash interrupted
		g.onSpareFS = make([]bool, len(dirs))
		for i, dir := range dirs {
			g.onSpareFS[i] = sameFilesystem(dir, filepath.Dir(limits.SpareFile))
		}
	}
	// The first look only releases the spare: writing it waits for the
	// background polls, so a node does not wait for it to start.
	g.tendSpare(g.poll(), false)
	return g
}

// Start polls every interval until Close.
func (g *DiskGuard) Start(interval time.Duration) {
	g.stop = make(chan struct{})
	g.done = make(chan struct{})
	go func() {
		defer close(g.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-g.stop:
				return
			case <-t.C:
				g.Poll()
			}
		}
	}()
}

// Close stops polling. It is safe to call twice, and without Start.
func (g *DiskGuard) Close() {
	g.once.Do(func() {
		if g.stop != nil {
			close(g.stop)
			<-g.done
		}
	})
}

// Level returns the worst level among the directories.
func (g *DiskGuard) Level() DiskLevel {
	if g == nil {
		return DiskOK
	}
	return DiskLevel(g.level.Load())
}

// AllowWrite reports whether a client write may be accepted.
func (g *DiskGuard) AllowWrite() error {
	if g.Level() >= DiskLow {
		return ErrDiskLow
	}
	return nil
}

// AllowEntry reports whether any new Raft entry may be written.
func (g *DiskGuard) AllowEntry() error {
	if g.Level() >= DiskFull {
		return ErrDiskFull
	}
	return nil
}

// Usage returns what the last poll saw of each directory.
func (g *DiskGuard) Usage() []DirUsage {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]DirUsage(nil), g.usage...)
}

// dirSizeEvery is how many polls pass between measurements of the
// directories' own sizes, which walk their files.
const dirSizeEvery = 50

// Poll checks the filesystems now, updates the level, and releases or
// writes back the spare file.
func (g *DiskGuard) Poll() {
	g.tendSpare(g.poll(), true)
}

func (g *DiskGuard) poll() DiskLevel {
	g.mu.Lock()
	defer g.mu.Unlock()
	walk := g.polls%dirSizeEvery == 0
	g.polls++
	prev := DiskLevel(g.level.Load())
	worst := DiskOK
	usage := make([]DirUsage, len(g.dirs))
	for i, dir := range g.dirs {
		u := DirUsage{Dir: dir}
		if i < len(g.usage) {
			u.UsedBytes = g.usage[i].UsedBytes
		}
		total, free, err := g.statfs(dir)
		if err != nil {
			// A directory that cannot be looked at keeps its last level.
			if i < len(g.usage) {
				u = g.usage[i]
			}
			usage[i] = u
			worst = max(worst, u.Level)
			continue
		}
		if i < len(g.onSpareFS) && g.onSpareFS[i] {
			free -= min(free, g.limits.SpareBytes)
		}
		u.TotalBytes, u.FreeBytes = total, free
		u.Level = g.limits.level(total, free, prev)
		if walk {
			u.UsedBytes = dirSize(dir)
		}
		usage[i] = u
		worst = max(worst, u.Level)
	}
	g.usage = usage
	g.level.Store(int32(worst))
	if worst != prev {
		ev := g.log.Warn()
		if worst == DiskOK {
			ev = g.log.Info()
		}
		ev.Str("level", worst.String()).Str("was", prev.String()).Msg("disk level changed")
	}
	return worst
}

// hysteresis is the share of a threshold the free space must exceed it by
// before a refusal ends, so a node near a threshold does not flap.
const hysteresis = 0.02

// level classifies a filesystem; prev is the guard's current level.
func (l DiskLimits) level(total, free uint64, prev DiskLevel) DiskLevel {
	write := max(l.MinFreeBytes, uint64(float64(total)*l.MinFreePercent/100))
	reserve := l.ReserveBytes
	if prev >= DiskLow {
		write += uint64(float64(write) * hysteresis)
	}
	if prev >= DiskFull {
		reserve += uint64(float64(reserve) * hysteresis)
	}
	switch {
	case free < reserve:
		return DiskFull
	case free < write:
		return DiskLow
	}
	return DiskOK
}

// dirSize is the bytes the files under dir occupy on disk (sparse files
// count what is allocated, not their length).
func dirSize(dir string) uint64 {
	var n uint64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		n += allocated(info)
		return nil
	})
	return n
}

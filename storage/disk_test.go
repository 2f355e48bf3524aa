package storage

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
)

func TestDiskLimitsLevel(t *testing.T) {
	const mib = 1 << 20
	l := DiskLimits{MinFreeBytes: 100 * mib, MinFreePercent: 10, ReserveBytes: 20 * mib}
	for _, tc := range []struct {
		name        string
		total, free uint64
		prev, want  DiskLevel
	}{
		{"plenty", 10000 * mib, 5000 * mib, DiskOK, DiskOK},
		{"percent wins on a large disk", 10000 * mib, 900 * mib, DiskOK, DiskLow},
		{"bytes win on a small disk", 500 * mib, 90 * mib, DiskOK, DiskLow},
		{"under the reserve", 500 * mib, 10 * mib, DiskOK, DiskFull},
		{"just over the write threshold", 500 * mib, 101 * mib, DiskOK, DiskOK},
		{"refusing stays until past the hysteresis", 500 * mib, 101 * mib, DiskLow, DiskLow},
		{"refusing ends past the hysteresis", 500 * mib, 103 * mib, DiskLow, DiskOK},
		{"full stays until past the hysteresis", 500 * mib, 20*mib + 1, DiskFull, DiskFull},
		{"full ends into low", 500 * mib, 21 * mib, DiskFull, DiskLow},
	} {
		if got := l.level(tc.total, tc.free, tc.prev); got != tc.want {
			t.Errorf("%s: level(%d MiB of %d MiB, prev %s) = %s, want %s",
				tc.name, tc.free/mib, tc.total/mib, tc.prev, got, tc.want)
		}
	}
}

func TestDiskGuardRefusesAndResumes(t *testing.T) {
	const mib = 1 << 20
	free := uint64(1000 * mib)
	g := &DiskGuard{
		dirs:   []string{t.TempDir()},
		limits: DiskLimits{MinFreeBytes: 100 * mib, ReserveBytes: 20 * mib},
		log:    zerolog.Nop(),
		statfs: func(string) (uint64, uint64, error) { return 2000 * mib, free, nil },
	}
	g.Poll()
	if g.AllowWrite() != nil || g.AllowEntry() != nil {
		t.Fatalf("plenty of space refused: level %s", g.Level())
	}
	free = 50 * mib
	g.Poll()
	if err := g.AllowWrite(); !errors.Is(err, ErrDiskLow) {
		t.Fatalf("AllowWrite under the threshold = %v, want ErrDiskLow", err)
	}
	if err := g.AllowEntry(); err != nil {
		t.Fatalf("AllowEntry above the reserve = %v, want nil", err)
	}
	free = 10 * mib
	g.Poll()
	if err := g.AllowEntry(); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("AllowEntry under the reserve = %v, want ErrDiskFull", err)
	}
	free = 500 * mib
	g.Poll()
	if g.Level() != DiskOK {
		t.Fatalf("level after space returned = %s, want ok", g.Level())
	}
	u := g.Usage()
	if len(u) != 1 || u[0].FreeBytes != 500*mib || u[0].TotalBytes != 2000*mib {
		t.Fatalf("usage = %+v", u)
	}
}

func TestDiskGuardReal(t *testing.T) {
	g := NewDiskGuard([]string{t.TempDir()}, DiskLimits{}, zerolog.Nop())
	g.Start(10e6)
	defer g.Close()
	u := g.Usage()
	if len(u) != 1 || u[0].TotalBytes == 0 || g.Level() != DiskOK {
		t.Fatalf("usage of a temp dir = %+v, level %s", u, g.Level())
	}
	var nilGuard *DiskGuard
	if nilGuard.AllowWrite() != nil || nilGuard.AllowEntry() != nil {
		t.Fatal("a nil guard refused")
	}
}

// TestDiskGuardSpare: the spare's size counts as used whether the file is
// there or not; it is released when the disk is full and written back
// once the level is ok again, never while anything is refused.
func TestDiskGuardSpare(t *testing.T) {
	const mib = 1 << 20
	dir := t.TempDir()
	spare := filepath.Join(dir, "spare")
	if err := os.WriteFile(spare+".tmp", []byte("half-written"), 0o600); err != nil {
		t.Fatal(err)
	}
	free := uint64(1000 * mib)
	g := NewDiskGuard([]string{dir}, DiskLimits{MinFreeBytes: 100 * mib, ReserveBytes: 20 * mib, SpareFile: spare, SpareBytes: mib}, zerolog.Nop())
	if _, err := os.Stat(spare + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover spare.tmp: %v, want it removed", err)
	}
	if _, err := os.Stat(spare); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spare written before the first background poll: %v", err)
	}
	g.statfs = func(string) (uint64, uint64, error) { return 2000 * mib, free, nil }
	size := func() int64 {
		info, err := os.Stat(spare)
		if err != nil {
			return -1
		}
		return info.Size()
	}
	steps := []struct {
		name     string
		free     uint64
		level    DiskLevel
		reported uint64
		spare    int64
	}{
		{"plenty: spare written", 1000 * mib, DiskOK, 999 * mib, mib},
		{"low: spare kept", 50 * mib, DiskLow, 49 * mib, mib},
		{"full: spare released", 10 * mib, DiskFull, 9 * mib, -1},
		{"not a byte left", 0, DiskFull, 0, -1},
		{"the spare's room is not free space", mib, DiskFull, 0, -1},
		{"low again: no spare yet", 60 * mib, DiskLow, 59 * mib, -1},
		{"ok: spare written back", 500 * mib, DiskOK, 499 * mib, mib},
	}
	for _, s := range steps {
		free = s.free
		g.Poll()
		u := g.Usage()
		if g.Level() != s.level || u[0].FreeBytes != s.reported || size() != s.spare {
			t.Fatalf("%s: level %s, free %d MiB, spare %d bytes; want %s, %d MiB, %d",
				s.name, g.Level(), u[0].FreeBytes/mib, size(), s.level, s.reported/mib, s.spare)
		}
	}
}

// TestOpenWithEmptyMemtable: a memtable file a crash left empty (Badger
// creates it, then sizes it) does not keep the store from opening.
func TestOpenWithEmptyMemtable(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	mustApply(t, s, func(tx *Tx) error { return tx.CreateApp(testApp(tApp, "kept")) })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00099.mem"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, zerolog.Nop())
	if err != nil {
		t.Fatalf("open with an empty memtable file: %v", err)
	}
	defer s.Close()
	if err := s.View(func(r *Reader) error { _, err := r.App(tApp); return err }); err != nil {
		t.Fatalf("app after reopening: %v", err)
	}
}

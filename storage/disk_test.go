package storage

import (
	"errors"
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

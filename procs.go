package main

import (
	"os"
	"runtime"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-webhooks/herald/storage"
)

// Badger reads its files through memory mappings. A goroutine that touches
// a page the kernel must read from disk stops its thread inside the fault,
// and the thread keeps its P (Go's slot for running goroutines) meanwhile:
// with one P per CPU, a node draining a backlog whose pages are on disk
// spends much of its time with every P waiting on the disk. More Ps than
// CPUs let other goroutines run then, but they cost a third of the ingest
// rate when the node is busy on the CPU, with no faults to wait for
// (docs/BENCHMARKS.md). So GOMAXPROCS is raised only while major page
// faults are frequent.

// procsTuner decides from the rate of major page faults when GOMAXPROCS
// is raised and when it returns to Go's default.
type procsTuner struct {
	raiseAt    float64       // faults per second from which it is raised
	lowerAt    float64       // faults per second below which it may return
	hold       time.Duration // how long the rate stays below lowerAt first
	raised     bool
	quietSince time.Time
}

type procsChange int

const (
	procsKeep procsChange = iota
	procsRaise
	procsLower
)

// observe takes one measured rate and says what to do.
func (t *procsTuner) observe(rate float64, now time.Time) procsChange {
	switch {
	case !t.raised:
		if rate >= t.raiseAt {
			t.raised, t.quietSince = true, time.Time{}
			return procsRaise
		}
	case rate >= t.lowerAt:
		t.quietSince = time.Time{}
	case t.quietSince.IsZero():
		t.quietSince = now
	case now.Sub(t.quietSince) >= t.hold:
		t.raised = false
		return procsLower
	}
	return procsKeep
}

// faultCheck is how often the fault rate is measured.
const faultCheck = 250 * time.Millisecond

// tuneProcs runs the tuner for the life of the process: GOMAXPROCS goes to
// perCPU times Go's default (the CPUs the process may use) while the node
// takes 200 or more major page faults a second, and back to the default
// (which Go then keeps following, cgroup limits included) once it has
// taken fewer than 50 a second for 2 s. It does nothing when perCPU is 1
// or less, or when the GOMAXPROCS environment variable is set.
func tuneProcs(perCPU int, log zerolog.Logger) {
	if perCPU <= 1 || os.Getenv("GOMAXPROCS") != "" {
		return
	}
	t := &procsTuner{raiseAt: 200, lowerAt: 50, hold: 2 * time.Second}
	last, err := storage.MajorFaults()
	if err != nil {
		log.Warn().Err(err).Msg("page faults cannot be counted: GOMAXPROCS stays at its default")
		return
	}
	at := time.Now()
	go func() {
		for range time.Tick(faultCheck) {
			n, err := storage.MajorFaults()
			if err != nil {
				runtime.SetDefaultGOMAXPROCS()
				return
			}
			now := time.Now()
			rate := float64(n-last) / now.Sub(at).Seconds()
			last, at = n, now
			switch t.observe(rate, now) {
			case procsRaise:
				runtime.GOMAXPROCS(perCPU * runtime.GOMAXPROCS(0))
			case procsLower:
				runtime.SetDefaultGOMAXPROCS()
			default:
				continue
			}
			log.Info().Int("gomaxprocs", runtime.GOMAXPROCS(0)).Float64("major_faults_per_s", rate).Msg("GOMAXPROCS changed")
		}
	}()
}

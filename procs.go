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

// procsTuner decides GOMAXPROCS from the rate of major page faults.
type procsTuner struct {
	base, high int
	raiseAt    float64       // faults per second from which high applies
	lowerAt    float64       // faults per second below which base may return
	hold       time.Duration // how long the rate stays below lowerAt first
	raised     bool
	quietSince time.Time
}

// observe takes one measured rate and returns the GOMAXPROCS to set, if it
// changes.
func (t *procsTuner) observe(rate float64, now time.Time) (procs int, change bool) {
	switch {
	case !t.raised:
		if rate >= t.raiseAt {
			t.raised, t.quietSince = true, time.Time{}
			return t.high, true
		}
	case rate >= t.lowerAt:
		t.quietSince = time.Time{}
	case t.quietSince.IsZero():
		t.quietSince = now
	case now.Sub(t.quietSince) >= t.hold:
		t.raised = false
		return t.base, true
	}
	return 0, false
}

// faultCheck is how often the fault rate is measured.
const faultCheck = 250 * time.Millisecond

// tuneProcs runs the tuner for the life of the process: GOMAXPROCS goes to
// perCPU times Go's default (the CPUs the process may use) while the node
// takes 200 or more major page faults a second, and back once it has taken
// fewer than 50 a second for 2 s. It does nothing when perCPU is 1 or less,
// or when the GOMAXPROCS environment variable chose the value.
func tuneProcs(perCPU int, log zerolog.Logger) {
	if perCPU <= 1 || os.Getenv("GOMAXPROCS") != "" {
		return
	}
	base := runtime.GOMAXPROCS(0)
	t := &procsTuner{base: base, high: perCPU * base, raiseAt: 200, lowerAt: 50, hold: 2 * time.Second}
	last, err := storage.MajorFaults()
	if err != nil {
		log.Warn().Err(err).Msg("page faults cannot be counted: GOMAXPROCS stays at its default")
		return
	}
	go func() {
		at := time.Now()
		for range time.Tick(faultCheck) {
			n, err := storage.MajorFaults()
			if err != nil {
				return
			}
			now := time.Now()
			rate := float64(n-last) / now.Sub(at).Seconds()
			last, at = n, now
			if procs, ok := t.observe(rate, now); ok {
				runtime.GOMAXPROCS(procs)
				log.Info().Int("gomaxprocs", procs).Float64("major_faults_per_s", rate).Msg("GOMAXPROCS changed")
			}
		}
	}()
}

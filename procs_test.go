package main

import (
	"testing"
	"time"
)

func TestProcsTuner(t *testing.T) {
	tu := &procsTuner{base: 2, high: 6, raiseAt: 200, lowerAt: 50, hold: 2 * time.Second}
	at := time.Unix(0, 0)
	step := func(rate float64, wantProcs int, wantChange bool) {
		t.Helper()
		at = at.Add(faultCheck)
		procs, change := tu.observe(rate, at)
		if procs != wantProcs || change != wantChange {
			t.Fatalf("at %v, rate %v: got (%d, %v), want (%d, %v)", at.Sub(time.Unix(0, 0)), rate, procs, change, wantProcs, wantChange)
		}
	}
	step(10, 0, false)  // CPU-bound work, few faults: stays at the base
	step(199, 0, false) // below the threshold
	step(2000, 6, true) // a drain faulting on its pages: raised
	step(3000, 0, false)
	// A dip under lowerAt shorter than hold keeps it raised.
	for range 4 {
		step(10, 0, false)
	}
	step(60, 0, false) // back above lowerAt: the quiet period starts over
	for range 8 {
		step(10, 0, false)
	}
	step(10, 2, true) // quiet for 2 s: back to the base
	step(10, 0, false)
	step(500, 6, true)
}

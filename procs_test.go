package main

import (
	"testing"
	"time"
)

func TestProcsTuner(t *testing.T) {
	tu := &procsTuner{raiseAt: 200, lowerAt: 50, hold: 2 * time.Second}
	at := time.Unix(0, 0)
	step := func(rate float64, want procsChange) {
		t.Helper()
		at = at.Add(faultCheck)
		if got := tu.observe(rate, at); got != want {
			t.Fatalf("at %v, rate %v: got %d, want %d", at.Sub(time.Unix(0, 0)), rate, got, want)
		}
	}
	step(10, procsKeep)    // CPU-bound work, few faults: stays at the default
	step(199, procsKeep)   // below the threshold
	step(2000, procsRaise) // a drain faulting on its pages: raised
	step(3000, procsKeep)
	// A dip under lowerAt shorter than hold keeps it raised.
	for range 4 {
		step(10, procsKeep)
	}
	step(60, procsKeep) // back above lowerAt: the quiet period starts over
	for range 8 {
		step(10, procsKeep)
	}
	step(10, procsLower) // quiet for 2 s: back to the default
	step(10, procsKeep)
	step(500, procsRaise)
}

// Package testutil holds the helpers every test tier shares, once.
package testutil

import (
	"testing"
	"time"
)

// CheckFor polls fn every step until it returns nil, and fails the test
// with fn's last error once wait has passed: tests wait for a condition,
// never for a fixed time.
func CheckFor(t testing.TB, wait, step time.Duration, fn func() error) {
	t.Helper()
	if err := Poll(wait, step, fn); err != nil {
		t.Fatalf("condition not met after %v: %v", wait, err)
	}
}

// Poll is CheckFor without the test: it returns fn's last error once wait
// has passed, nil as soon as fn returns nil.
func Poll(wait, step time.Duration, fn func() error) error {
	deadline := time.Now().Add(wait)
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(step)
	}
}

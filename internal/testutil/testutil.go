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
	deadline := time.Now().Add(wait)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", wait, err)
		}
		time.Sleep(step)
	}
}

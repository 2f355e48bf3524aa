package server

import (
	"strings"
	"testing"
)

// TestHasHugeNumber covers the number scan of the message fast path:
// numbers inside strings never count, whatever their escapes.
func TestHasHugeNumber(t *testing.T) {
	cases := []struct {
		body string
		want bool
	}{
		{`{"n":1e308}`, false},
		{`{"n":1e309}`, true},
		{`{"n":-1E+999999}`, true},
		{`{"n":1e-999999}`, false}, // underflows to 0: every parser agrees
		{`{"n":[1,2.5e3,-0.0]}`, false},
		{`{"n":` + strings.Repeat("9", 308) + `}`, false},
		{`{"n":` + strings.Repeat("9", 309) + `}`, true},
		{`{"s":"1e999"}`, false},
		{`{"s":"\"1e999\""}`, false},
		{`{"s":"\\","n":1e999}`, true},
		{`{"s":"\\\"1e999"}`, false},
		{`{"1e999":true}`, false},
		{`[true,false,null,"e"]`, false},
	}
	for _, c := range cases {
		if got := hasHugeNumber([]byte(c.body)); got != c.want {
			t.Errorf("hasHugeNumber(%.60q) = %v, want %v", c.body, got, c.want)
		}
	}
}

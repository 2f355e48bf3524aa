package server

import (
	"strings"
	"testing"
)

func TestJSONTooDeep(t *testing.T) {
	nest := func(n int) string { return strings.Repeat(`{"a":[`, n) + `1` + strings.Repeat(`]}`, n) }
	cases := []struct {
		body string
		want bool
	}{
		{`{}`, false},
		{nest(2), false}, // depth 4
		{nest(2) + `,` + nest(2), false},
		{`[` + nest(2) + `]`, true}, // depth 5
		// Many brackets, little depth: the walk decides, not the count.
		{`[` + strings.Repeat(`{},`, 50) + `{}]`, false},
		{`{"s":"` + strings.Repeat(`[{`, 50) + `"}`, false},
		{`{"s":"\"` + strings.Repeat(`[`, 10) + `"}`, false},
		{`{"s":"\\"` + `,"t":` + strings.Repeat(`[`, 5) + strings.Repeat(`]`, 5) + `}`, true},
	}
	for _, c := range cases {
		if got := jsonTooDeep([]byte(c.body), 4); got != c.want {
			t.Errorf("jsonTooDeep(%.60q, 4) = %v, want %v", c.body, got, c.want)
		}
	}
}

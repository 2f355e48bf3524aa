package config

import (
	"fmt"
	"time"
)

// Duration is a time.Duration written in TOML as a string such as "15s" or
// "10h", because TOML has no duration type and bare integers hide the unit.
type Duration struct {
	time.Duration
}

// UnmarshalText parses Go duration syntax ("500ms", "5m", "2h30m").
func (d *Duration) UnmarshalText(text []byte) error {
	parsed, err := time.ParseDuration(string(text))
	if err != nil {
		// time's own message ("missing unit in duration") does not tell an
		// operator what to write instead.
		return fmt.Errorf("invalid duration %q: want a number with a unit (ms, s, m, h), such as \"15s\" or \"2h\"", text)
	}
	d.Duration = parsed
	return nil
}

// MarshalText writes the duration in the same syntax UnmarshalText reads.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.Duration.String()), nil
}

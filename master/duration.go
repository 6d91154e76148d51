package master

import (
	"fmt"
	"time"
)

// Duration is a time.Duration written in TOML as a string with a unit:
// "30s", "500ms", "1m". (jobd has the same small type; master does not
// import jobd, so it keeps its own.)
type Duration time.Duration

// UnmarshalTOML accepts a duration string, or a bare 0, and rejects other
// bare numbers with a message that shows the right form.
func (d *Duration) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case string:
		p, err := time.ParseDuration(x)
		if err != nil {
			return fmt.Errorf("invalid duration %q: use a number with a unit, e.g. \"30s\", \"500ms\", \"1m\"", x)
		}
		*d = Duration(p)
		return nil
	case int64:
		if x == 0 {
			*d = 0
			return nil
		}
		return fmt.Errorf("invalid duration %d: durations are strings with a unit, e.g. \"%ds\"", x, x)
	default:
		return fmt.Errorf("invalid duration %v: use a string with a unit, e.g. \"30s\"", v)
	}
}

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

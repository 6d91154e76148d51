package jobd

import (
	"errors"
	"fmt"
	"time"
)

// Duration is a time.Duration written in TOML as a string with a unit:
// "10s", "500ms", "1h30m".
type Duration time.Duration

// durationErrorPrefix starts every error of UnmarshalTOML; config errors
// recognise it to add the key and its value.
const durationErrorPrefix = "invalid duration"

// UnmarshalTOML accepts a duration string and rejects bare numbers with a
// message that shows the right form.
func (d *Duration) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case string:
		p, err := time.ParseDuration(x)
		if err != nil {
			return errors.New(durationErrorPrefix + `: use a number with a unit, e.g. "10s", "500ms", "5m"`)
		}
		*d = Duration(p)
		return nil
	case int64:
		if x == 0 {
			*d = 0
			return nil
		}
		return fmt.Errorf(durationErrorPrefix+`: a duration is a string with a unit, e.g. "%ds"`, x)
	default:
		return errors.New(durationErrorPrefix + `: a duration is a string with a unit, e.g. "10s"`)
	}
}

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

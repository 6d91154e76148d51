package master

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDurationTOML(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   any
		want time.Duration
		err  string
	}{
		{"30s", 30 * time.Second, ""},
		{"250ms", 250 * time.Millisecond, ""},
		{"1m30s", 90 * time.Second, ""},
		{int64(0), 0, ""},
		{int64(30), 0, `invalid duration 30: durations are strings with a unit, e.g. "30s"`},
		{"30", 0, `invalid duration "30": use a number with a unit, e.g. "30s", "500ms", "1m"`},
		{1.5, 0, `invalid duration 1.5: use a string with a unit, e.g. "30s"`},
	} {
		var d Duration
		err := d.UnmarshalTOML(tc.in)
		if tc.err != "" {
			require.EqualError(t, err, tc.err, "%v", tc.in)
			continue
		}
		require.NoError(t, err, "%v", tc.in)
		require.Equal(t, tc.want, d.D(), "%v", tc.in)
	}
	b, err := Duration(1500 * time.Millisecond).MarshalText()
	require.NoError(t, err)
	require.Equal(t, "1.5s", string(b))
}

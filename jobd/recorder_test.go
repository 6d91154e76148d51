package jobd

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The recorder writes an event at once when it has been idle, and under
// load waits until writeSpacing after the previous write, unless a full
// batch waits or jobd is stopping.
func TestRecorderSpacing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		since   time.Duration
		pending int
		closing bool
		want    time.Duration
	}{
		{time.Hour, 1, false, 0},                                // idle: at once
		{writeSpacing, 1, false, 0},                             // idle just long enough
		{0, 1, false, writeSpacing},                             // the previous write just ended
		{2 * time.Millisecond, 10, false, 3 * time.Millisecond}, // the rest of the spacing
		{0, batchTarget - 1, false, writeSpacing},
		{0, batchTarget, false, 0}, // a full batch goes at once
		{0, 1, true, 0},            // stopping: no waiting
	} {
		require.Equal(t, tc.want, spacing(tc.since, tc.pending, tc.closing), "since %s, %d pending, closing %v", tc.since, tc.pending, tc.closing)
	}
}
